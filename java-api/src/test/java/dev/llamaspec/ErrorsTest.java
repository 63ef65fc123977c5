package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every failure is a Java exception with a clear message; the JVM and other sessions keep working. */
class ErrorsTest {
    @TempDir
    Path tmp;

    private static LlamaException loadFails(Path path) {
        return assertThrows(LlamaException.class, () -> LlamaModel.load(path));
    }

    @Test
    void missingFile() {
        Path missing = tmp.resolve("missing.gguf");
        LlamaException e = loadFails(missing);
        assertEquals(ErrorCode.MODEL_LOAD, e.code());
        assertTrue(e.getMessage().contains("not found") && e.getMessage().contains(missing.toString()), e.getMessage());
    }

    @Test
    void directory() {
        LlamaException e = loadFails(tmp);
        assertEquals(ErrorCode.MODEL_LOAD, e.code());
        assertTrue(e.getMessage().contains("directory"), e.getMessage());
    }

    @Test
    void emptyFileAndTextFile() throws IOException {
        Path empty = Files.createFile(tmp.resolve("empty.gguf"));
        assertTrue(loadFails(empty).getMessage().contains("not a GGUF file"));
        Path text = Files.writeString(tmp.resolve("notes.gguf"), "these are not weights\n");
        LlamaException e = loadFails(text);
        assertEquals(ErrorCode.MODEL_LOAD, e.code());
        assertTrue(e.getMessage().contains("no GGUF magic"), e.getMessage());
    }

    @Test
    void truncatedAndCorruptGguf() throws IOException {
        byte[] real = Files.readAllBytes(TestModels.model());
        Path truncated = Files.write(tmp.resolve("truncated.gguf"), Arrays.copyOf(real, real.length / 3));
        LlamaException e = loadFails(truncated);
        assertEquals(ErrorCode.MODEL_LOAD, e.code());
        assertTrue(e.getMessage().contains("could not load"), e.getMessage());

        byte[] garbage = new byte[4096];
        new java.util.Random(7).nextBytes(garbage);
        System.arraycopy("GGUF".getBytes(StandardCharsets.US_ASCII), 0, garbage, 0, 4);
        assertEquals(ErrorCode.MODEL_LOAD, loadFails(Files.write(tmp.resolve("random.gguf"), garbage)).code());
    }

    @Test
    void ggufOfANonTextModel() throws IOException {
        // a vision projector (architecture clip) and a Medusa heads file are GGUF files, but not models
        // llama.cpp can generate text with
        for (String architecture : new String[] {"clip", "medusa"}) {
            Path file = TestHeads.write(tmp.resolve(architecture + ".gguf"), architecture, 1, 1, 64, 512, "0");
            LlamaException e = loadFails(file);
            assertEquals(ErrorCode.MODEL_LOAD, e.code());
            assertTrue(e.getMessage().contains(architecture), e.getMessage());
        }
        // the JVM and other models keep working
        try (LlamaModel model = LlamaModel.load(TestModels.model()); Session session = model.newSession()) {
            assertTrue(session.generate("Once", TestModels.greedy(4)).tokens().length > 0);
        }
    }

    /** A log handler that keeps every record it is given. */
    private static Handler recordingHandler(List<LogRecord> records) {
        return new Handler() {
            @Override
            public void publish(LogRecord record) {
                records.add(record);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
    }

    @Test
    void llamaCppErrorsGoToSystemLoggerNotStderr() throws IOException {
        Logger logger = Logger.getLogger(NativeLog.LOGGER_NAME);
        List<LogRecord> records = new java.util.concurrent.CopyOnWriteArrayList<>();
        Handler handler = recordingHandler(records);
        logger.addHandler(handler);
        try {
            byte[] real = Files.readAllBytes(TestModels.model());
            loadFails(Files.write(tmp.resolve("half.gguf"), Arrays.copyOf(real, real.length / 2)));
        } finally {
            logger.removeHandler(handler);
        }
        assertTrue(records.stream().anyMatch(r -> r.getLevel() == java.util.logging.Level.SEVERE),
                "llama.cpp's error did not reach the logger: " + records.size() + " records");
    }

    @Test
    void cancellingAComputationLogsNoErrors() throws Exception {
        // A cancel() that lands inside llama_decode aborts the graph computation, about which llama.cpp
        // logs errors; those are the expected fallout of the cancellation and must not reach the log as
        // errors. A long prompt and a cancel from another thread soon after the start hit the decode.
        Logger logger = Logger.getLogger(NativeLog.LOGGER_NAME);
        List<LogRecord> records = new java.util.concurrent.CopyOnWriteArrayList<>();
        Handler handler = recordingHandler(records);
        logger.addHandler(handler);
        int cancelled = 0;
        try (LlamaModel model = LlamaModel.load(TestModels.model());
                Session session = model.newSession(SessionOptions.builder().contextSize(2048).build())) {
            String longPrompt = String.join(" ", TestModels.storyOpenings(40));
            for (int i = 0; i < 20; i++) {
                session.reset();
                Thread canceller = new Thread(() -> {
                    try {
                        Thread.sleep(1);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    session.cancel();
                });
                canceller.start();
                Generation g = session.generate(longPrompt, TestModels.greedy(200));
                canceller.join();
                cancelled += g.stopReason() == StopReason.CANCELLED ? 1 : 0;
            }
            // still usable
            assertEquals(8, session.generate("Once upon a time", TestModels.greedy(8)).tokens().length);
        } finally {
            logger.removeHandler(handler);
        }
        assertTrue(cancelled > 0, "no generation was cancelled");
        List<String> severe = records.stream().filter(r -> r.getLevel() == java.util.logging.Level.SEVERE)
                .map(LogRecord::getMessage).collect(java.util.stream.Collectors.toList());
        assertTrue(severe.isEmpty(), "cancellation logged errors: " + severe);
    }

    @Test
    void invalidOptionsAreRejectedByTheBuilders() {
        assertThrows(IllegalArgumentException.class, () -> GenerationOptions.builder().maxTokens(0).build());
        assertThrows(IllegalArgumentException.class, () -> GenerationOptions.builder().temperature(Float.NaN).build());
        assertThrows(IllegalArgumentException.class, () -> GenerationOptions.builder().temperature(-1).build());
        assertThrows(IllegalArgumentException.class, () -> GenerationOptions.builder().topP(0).build());
        assertThrows(IllegalArgumentException.class, () -> GenerationOptions.builder().topP(1.5f).build());
        assertThrows(IllegalArgumentException.class, () -> GenerationOptions.builder().minP(-0.1f).build());
        assertThrows(IllegalArgumentException.class, () -> GenerationOptions.builder().topK(-1).build());
        assertThrows(IllegalArgumentException.class,
                () -> GenerationOptions.builder().repeatPenalty(Float.POSITIVE_INFINITY).build());
        assertThrows(IllegalArgumentException.class, () -> GenerationOptions.builder().stop("").build());
        assertThrows(IllegalArgumentException.class, () -> GenerationOptions.builder().seed(-5));
        assertThrows(IllegalArgumentException.class, () -> ModelOptions.builder().threads(-1).build());
        assertThrows(IllegalArgumentException.class, () -> ModelOptions.builder().gpuLayers(-2).build());
        assertThrows(IllegalArgumentException.class, () -> SessionOptions.builder().contextSize(3).build());
    }

    @Test
    void promptLongerThanTheContext() {
        try (LlamaModel model = LlamaModel.load(TestModels.model());
             Session session = model.newSession(SessionOptions.builder().contextSize(64).build())) {
            String longPrompt = "The cat sat on the mat. ".repeat(200);
            LlamaException e = assertThrows(LlamaException.class,
                    () -> session.generate(longPrompt, TestModels.greedy(8)));
            assertEquals(ErrorCode.CONTEXT_OVERFLOW, e.code());
            assertTrue(e.getMessage().contains("context holds " + session.contextSize()), e.getMessage());
            assertFalse(session.isGenerating());
            assertEquals(8, session.generate("Once upon a time", TestModels.greedy(8)).tokens().length);
        }
    }

    @Test
    void maxTokensBeyondTheContextStopsWithContextFull() {
        try (LlamaModel model = LlamaModel.load(TestModels.model());
             Session session = model.newSession(SessionOptions.builder().contextSize(64).build())) {
            // a prompt that makes the model ramble on without an end-of-text token
            String prompt = "Once upon a time";
            int n = session.contextSize();
            Generation g = session.generate(prompt, GenerationOptions.builder().temperature(0).maxTokens(10_000)
                    .build());
            // every position holds a token, and one more token is sampled from the last position
            if (g.stopReason() == StopReason.CONTEXT_FULL) {
                assertEquals(n + 1, model.tokenize(prompt).length + g.tokens().length);
            } else {
                assertEquals(StopReason.END_OF_TEXT, g.stopReason());
            }
            // a prompt that leaves room for only a few tokens
            int[] almostFull = new int[n - 3];
            Arrays.fill(almostFull, model.tokenize(" the", false, false)[0]);
            almostFull[0] = model.tokenize("", true, false)[0];
            Generation tight = session.generate(almostFull, TestModels.greedy(100));
            assertEquals(StopReason.CONTEXT_FULL, tight.stopReason());
            assertEquals(4, tight.tokens().length);
        }
    }

    @Test
    void useAfterCloseAndDoubleClose() {
        LlamaModel model = LlamaModel.load(TestModels.model());
        Session session = model.newSession();
        session.close();
        assertDoesNotThrow(session::close);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> session.generate("Once", TestModels.greedy(4)));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, session::contextSize);
        assertDoesNotThrow(session::cancel);

        Session open = model.newSession();
        model.close();
        assertTrue(open.isClosed(), "closing the model closes its sessions");
        assertDoesNotThrow(model::close);
        assertThrows(IllegalStateException.class, () -> model.tokenize("x"));
        assertThrows(IllegalStateException.class, model::newSession);
        assertThrows(IllegalStateException.class, model::info);
    }

    @Test
    void aSessionRunsOneGenerationAtATime() {
        try (LlamaModel model = LlamaModel.load(TestModels.model()); Session session = model.newSession()) {
            try (TokenStream stream = session.stream("Once upon a time", TestModels.greedy(50))) {
                stream.iterator().next();
                IllegalStateException e = assertThrows(IllegalStateException.class,
                        () -> session.generate("Hello", TestModels.greedy(4)));
                assertTrue(e.getMessage().contains("already generating"), e.getMessage());
                assertThrows(IllegalStateException.class, session::reset);
            }
            assertEquals(4, session.generate("Hello", TestModels.greedy(4)).tokens().length);
        }
    }

    @Test
    void closingASessionWhileAnotherThreadGenerates() throws Exception {
        try (LlamaModel model = LlamaModel.load(TestModels.model())) {
            Session session = model.newSession();
            java.util.concurrent.atomic.AtomicReference<Throwable> outcome = new java.util.concurrent.atomic.AtomicReference<>();
            Thread generator = TestModels.streamInBackground(session, outcome);
            session.close();
            // the stream ended, by cancellation or with an IllegalStateException: no crash either way
            TestModels.assertEndsAfterClose(generator, outcome);
            try (Session other = model.newSession()) {
                assertEquals(5, other.generate("Hello", TestModels.greedy(5)).tokens().length);
            }
        }
    }

    @Test
    void invalidTokensAreRejected() {
        try (LlamaModel model = LlamaModel.load(TestModels.model()); Session session = model.newSession()) {
            assertEquals(ErrorCode.INVALID_ARGUMENT,
                    assertThrows(LlamaException.class, () -> model.detokenize(new int[] {1, 99999})).code());
            assertEquals(ErrorCode.INVALID_ARGUMENT,
                    assertThrows(LlamaException.class, () -> session.generate(new int[] {1, -4}, TestModels.greedy(4)))
                            .code());
            assertEquals(ErrorCode.INVALID_ARGUMENT,
                    assertThrows(LlamaException.class, () -> session.generate(new int[0], TestModels.greedy(4))).code());
        }
    }

    @Test
    void invalidUtf16InPromptsIsReplacedNotFatal() {
        try (LlamaModel model = LlamaModel.load(TestModels.model()); Session session = model.newSession()) {
            String broken = "Once upon a \uD800 time \uDFFF";
            assertEquals(4, session.generate(broken, TestModels.greedy(4)).tokens().length);
        }
    }
}
