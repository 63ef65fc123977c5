package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link Session#save} and {@link LlamaModel#restoreSession}: resumes, bad files, a save killed midway. */
class SessionFileTest extends WithTestModel {
    @TempDir
    Path dir;

    private static final String PROMPT = "Once upon a time, there was a little girl named Lily. She loved to play outside.";

    private static GenerationOptions greedy(int maxTokens, Speculation speculation) {
        return GenerationOptions.builder().temperature(0).maxTokens(maxTokens).speculation(speculation).build();
    }

    @Test
    void aRestoredSessionContinuesLikeTheOriginalWithoutEvaluatingTheSavedTokens() throws IOException {
        Path file = dir.resolve("story.session");
        String first;
        int[] cached;
        try (Session original = model.newSession()) {
            first = original.generate(PROMPT, greedy(60, Speculation.tokenRecycling())).text();
            cached = original.cachedTokens();
            original.save(file, "{\"turns\":[\"caf\u00e9 \u2713\"]}");
            assertTrue(Files.size(file) > 1000);
            assertFalse(original.attachment().isPresent());
        }
        String next = PROMPT + first + " The next day";
        for (Speculation speculation : List.of(Speculation.none(), Speculation.tokenRecycling(), Speculation.auto())) {
            try (Session restored = model.restoreSession(file);
                    Session fresh = model.newSession()) {
                assertArrayEquals(cached, restored.cachedTokens());
                assertEquals("{\"turns\":[\"caf\u00e9 \u2713\"]}", restored.attachment().orElseThrow());
                Generation resumed = restored.generate(next, greedy(40, speculation));
                Generation reference = fresh.generate(next, greedy(40, speculation));
                assertEquals(reference.text(), resumed.text(), speculation.name());
                int promptTokens = model.tokenize(next).length;
                assertEquals(promptTokens, resumed.stats().promptTokens());
                // the saved tokens that the prompt extends are not evaluated again
                int common = 0;
                int[] tokens = model.tokenize(next);
                while (common < cached.length && common < tokens.length && cached[common] == tokens[common]) {
                    common++;
                }
                assertTrue(common > 70, "the prompt extends the saved tokens: " + common);
                assertEquals(common, resumed.stats().reusedPromptTokens(), speculation.name());
                assertEquals(0, reference.stats().reusedPromptTokens());
            }
        }
    }

    @Test
    void badFilesAreRefusedWithTheirReason() throws IOException {
        Path good = dir.resolve("good.session");
        try (Session s = model.newSession()) {
            s.generate("Once upon a time", greedy(30, Speculation.none()));
            s.save(good);
        }
        byte[] bytes = Files.readAllBytes(good);
        refused(dir.resolve("missing.session"), ErrorCode.SESSION_FILE, "No such file");
        refused(TestModels.model(), ErrorCode.SESSION_FILE, "is not a llamaspec session file");
        refused(write("half.session", Arrays.copyOf(bytes, bytes.length / 2)), ErrorCode.SESSION_FILE, "is truncated");
        byte[] flipped = bytes.clone();
        flipped[bytes.length * 2 / 3] ^= 0x10;
        refused(write("flipped.session", flipped), ErrorCode.SESSION_FILE, "is damaged");
        byte[] newer = bytes.clone();
        newer[8] = 2; // the format version, little-endian
        refused(write("newer.session", newer), ErrorCode.SESSION_FILE, "newer than this llamaspec reads");
        refused(dir, ErrorCode.SESSION_FILE, "it is a folder");

        LlamaException strict = assertThrows(LlamaException.class, () -> model.restoreSession(good,
                SessionOptions.builder().strictNumerics(true).build()));
        assertEquals(ErrorCode.SESSION_FILE, strict.code());
        assertTrue(strict.getMessage().contains("does not fit this session"), strict.getMessage());

        Path big = dir.resolve("big.session");
        try (Session s = model.newSession(SessionOptions.builder().contextSize(1024).build())) {
            s.generate(PROMPT.repeat(10), greedy(10, Speculation.none()));
            s.save(big);
        }
        LlamaException small = assertThrows(LlamaException.class, () -> model.restoreSession(big,
                SessionOptions.builder().contextSize(256).build()));
        assertEquals(ErrorCode.CONTEXT_OVERFLOW, small.code());
        assertTrue(small.getMessage().contains("this session's context holds 256"), small.getMessage());

        // a failed save: the old file stays
        LlamaException folder = assertThrows(LlamaException.class, () -> {
            try (Session s = model.newSession()) {
                s.save(dir.resolve("no/such/folder/x.session"));
            }
        });
        assertEquals(ErrorCode.SESSION_FILE, folder.code());
        assertTrue(folder.getMessage().contains("No such file or directory"), folder.getMessage());
        assertArrayEquals(bytes, Files.readAllBytes(good));
    }

    private Path write(String name, byte[] bytes) throws IOException {
        return Files.write(dir.resolve(name), bytes);
    }

    private static void refused(Path file, ErrorCode code, String says) {
        LlamaException e = assertThrows(LlamaException.class, () -> model.restoreSession(file));
        assertEquals(code, e.code(), e.getMessage());
        assertTrue(e.getMessage().contains(says), e.getMessage());
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    }

    @Test
    void saveNeedsAnOpenIdleSession() throws Exception {
        Session s = model.newSession();
        AtomicReference<Throwable> outcome = new AtomicReference<>();
        Thread generator = TestModels.streamInBackground(s, outcome);
        IllegalStateException busy = assertThrows(IllegalStateException.class, () -> s.save(dir.resolve("x.session")));
        assertTrue(busy.getMessage().contains("generating"), busy.getMessage());
        s.cancel();
        generator.join(30_000);
        s.close();
        assertThrows(IllegalStateException.class, () -> s.save(dir.resolve("x.session")));
        assertThrows(NullPointerException.class, () -> model.restoreSession(null));
        assertFalse(Files.exists(dir.resolve("x.session")));
    }

    /**
     * A process killed (SIGKILL) while it saves the session again and again to one file: the file under
     * that name is always a whole session, the previous one or the new one.
     */
    @Test
    void aSaveKilledMidwayLeavesThePreviousFileIntact() throws Exception {
        Path file = dir.resolve("killed.session");
        String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        for (int round = 0; round < 4; round++) {
            List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                    System.getProperty("java.class.path"), SessionSaver.class.getName(),
                    TestModels.model().toString(), file.toString()));
            Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
            int saves = 0;
            int[] expected = null;
            try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = out.readLine()) != null) {
                    if (line.startsWith("tokens ")) {
                        expected = Arrays.stream(line.substring(7).split(",")).mapToInt(Integer::parseInt).toArray();
                    } else if (line.startsWith("saved ") && ++saves == 5 + round * 7) {
                        break;
                    }
                }
                assertTrue(saves > 0, "the child saved nothing");
                Thread.sleep(round * 3L); // somewhere inside the next saves
                child.destroyForcibly();
                assertTrue(child.waitFor(30, TimeUnit.SECONDS));
            } finally {
                child.destroyForcibly();
            }
            try (Session restored = model.restoreSession(file, SessionOptions.builder().contextSize(2048).build())) {
                assertArrayEquals(expected, restored.cachedTokens());
                assertTrue(restored.attachment().orElseThrow().startsWith("save "));
            }
        }
    }

    /** The child of {@link #aSaveKilledMidwayLeavesThePreviousFileIntact}: saves until it is killed. */
    public static final class SessionSaver {
        public static void main(String[] args) {
            try (LlamaModel m = LlamaModel.load(Paths.get(args[0]));
                    Session s = m.newSession(SessionOptions.builder().contextSize(2048).build())) {
                s.generate(PROMPT.repeat(30), greedy(20, Speculation.tokenRecycling()));
                int[] tokens = s.cachedTokens();
                System.out.println("tokens " + Arrays.stream(tokens).mapToObj(Integer::toString)
                        .reduce((a, b) -> a + "," + b).orElse(""));
                for (long i = 0; ; i++) {
                    s.save(Paths.get(args[1]), "save " + i);
                    System.out.println("saved " + i);
                    System.out.flush();
                }
            }
        }
    }
}
