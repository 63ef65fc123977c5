package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.bytedeco.javacpp.Loader;
import org.junit.jupiter.api.Test;

/** -Dllamaspec.library.path, in fresh JVMs (a JVM loads the library once). */
class NativeLibraryTest {

    /**
     * Loads a model and prints the first generated words, or the failure; with a second argument
     * "options", uses the classes that read the engine's settings tables instead and prints what each
     * use gave ("loaded", or the LlamaException's code, or another throwable's class).
     */
    public static void main(String[] args) {
        if (args.length > 1 && args[1].equals("options")) {
            List<Supplier<Object>> uses = List.of(GenerationOptions::defaults, GenerationOptions::defaults,
                    GenerationOptions::greedy, Speculation::none, Speculation::auto, SessionOptions::builder,
                    ModelOptions::defaults, () -> MedusaTrainer.builder(Paths.get("corpus.txt")),
                    () -> LlamaModel.load(Paths.get(args[0])));
            StringBuilder out = new StringBuilder();
            for (Supplier<Object> use : uses) {
                try {
                    use.get();
                    out.append(" loaded");
                } catch (LlamaException e) {
                    out.append(' ').append(e.code());
                } catch (Throwable t) {
                    out.append(' ').append(t.getClass().getSimpleName());
                }
            }
            System.out.println(out.toString().trim());
            return;
        }
        try (LlamaModel model = LlamaModel.load(Paths.get(args[0])); Session session = model.newSession()) {
            System.out.println("OK " + session.generate("Once upon a time", TestModels.greedy(4)).text());
        } catch (LlamaException e) {
            System.out.println(e.code() + " " + e.getMessage());
        }
    }

    private static String run(String libraryPath, String... more) throws Exception {
        String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new java.util.ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED",
                "-D" + NativeLibrary.PATH_PROPERTY + "=" + libraryPath,
                "-cp", System.getProperty("java.class.path"), NativeLibraryTest.class.getName(),
                TestModels.model().toString()));
        command.addAll(List.of(more));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (InputStream in = p.getInputStream()) {
            in.transferTo(out);
        }
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out.toString(StandardCharsets.UTF_8));
        List<String> lines = out.toString(StandardCharsets.UTF_8).lines().toList();
        return lines.isEmpty() ? "" : lines.get(lines.size() - 1);
    }

    @Test
    void aDirectoryWithTheLibraryIsUsed() throws Exception {
        Path dir = TestModels.root().resolve("java-api/target/classes/dev/llamaspec/native/" + Loader.getPlatform());
        assertTrue(Files.isDirectory(dir), dir.toString());
        String line = run(dir.toString());
        assertTrue(line.startsWith("OK , there was"), line);
    }

    @Test
    void aDirectoryWithoutTheLibraryIsAClearError() throws Exception {
        String line = run("/nonexistent/llamaspec-libs");
        assertTrue(line.startsWith("NATIVE_LIBRARY "), line);
        assertTrue(line.contains("/nonexistent/llamaspec-libs") && line.contains("libllamaspec_jni.so"), line);
    }

    @Test
    void withoutTheLibraryTheSettingsTablesFailAsLlamaExceptionsEveryTime() throws Exception {
        // the options read their defaults from the native library: its absence is a LlamaException at
        // each use, never an ExceptionInInitializerError or NoClassDefFoundError
        assertEquals("NATIVE_LIBRARY ".repeat(9).trim(), run("/nonexistent/llamaspec-libs", "options"));
        Path dir = TestModels.root().resolve("java-api/target/classes/dev/llamaspec/native/" + Loader.getPlatform());
        assertEquals("loaded ".repeat(9).trim(), run(dir.toString(), "options"));
    }
}
