package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Greedy generation through the Java API equals llama.cpp's own {@code llama-simple} (greedy, 64
 * tokens) on the same model: a reference that this project did not write. {@code llama-simple} is
 * found on the PATH (the build root has it) or at LLAMASPEC_LLAMA_SIMPLE.
 */
class ReferenceGreedyTest extends WithTestModel {
    private static final int TOKENS = 64;

    static List<String> prompts() {
        List<String> prompts = new ArrayList<>(TestModels.storyOpenings(4));
        prompts.add("Once upon a time");
        return prompts;
    }

    @ParameterizedTest
    @MethodSource("prompts")
    void javaGreedyEqualsLlamaSimple(String prompt) throws Exception {
        String reference = llamaSimple(prompt);

        Generation ours;
        try (Session session = model.newSession()) {
            ours = session.generate(prompt, TestModels.greedy(TOKENS));
        }
        // llama-simple prints the prompt's tokens (special tokens rendered) and then each new token.
        StringBuilder expected = new StringBuilder();
        for (int token : model.tokenize(prompt)) {
            expected.append(model.tokenToPiece(token, true));
        }
        expected.append(ours.text());

        assertTrue(ours.tokens().length == TOKENS || ours.stopReason() == StopReason.END_OF_TEXT);
        assertTrue(reference.startsWith(expected.toString()),
                "llama-simple printed:\n" + reference + "\nthe Java API gave:\n" + expected);
        assertEquals("", reference.substring(expected.length()).strip(),
                "llama-simple generated more than the Java API");
    }

    private static String llamaSimple(String prompt) throws IOException, InterruptedException {
        String binary = System.getenv().getOrDefault("LLAMASPEC_LLAMA_SIMPLE", "llama-simple");
        Process process = new ProcessBuilder(binary, "-m", TestModels.model().toString(), "-n",
                Integer.toString(TOKENS), prompt)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        byte[] out;
        try (InputStream in = process.getInputStream()) {
            ByteArrayOutputStream buffer = new ByteArrayOutputStream();
            in.transferTo(buffer);
            out = buffer.toByteArray();
        }
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "llama-simple did not finish");
        assertEquals(0, process.exitValue(), "llama-simple failed");
        return new String(out, StandardCharsets.UTF_8);
    }
}
