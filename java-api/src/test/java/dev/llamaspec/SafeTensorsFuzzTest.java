package dev.llamaspec;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Fuzzes the safetensors reader with Jazzer: whatever the bytes, it returns an index or throws a
 * {@link LlamaException}, nothing else. Not part of the default test run (JUnit tag {@code jazzer});
 * {@code ci/fuzz} runs it in fuzzing mode (JAZZER_FUZZ=1). Without JAZZER_FUZZ it only replays the
 * inputs in {@code src/test/resources/dev/llamaspec/SafeTensorsFuzzTestInputs/}.
 */
class SafeTensorsFuzzTest {
    private static final Path FILE;

    static {
        try {
            FILE = Files.createTempFile("llamaspec-fuzz-", ".safetensors");
            FILE.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @FuzzTest(maxDuration = "3m")
    void readerAcceptsOrThrowsLlamaException(byte[] data) throws IOException {
        Files.write(FILE, data);
        try {
            SafeTensors file = SafeTensors.read(FILE);
            long size = data.length;
            for (SafeTensors.Tensor t : file.tensors().values()) {
                if (t.offset() < 8 || t.offset() + t.size() > size) {
                    throw new AssertionError("tensor outside the file: " + t);
                }
            }
        } catch (LlamaException expected) {
            if (expected.code() != ErrorCode.MODEL_LOAD || expected.getMessage() == null) {
                throw new AssertionError("unexpected code " + expected.code(), expected);
            }
        }
    }
}
