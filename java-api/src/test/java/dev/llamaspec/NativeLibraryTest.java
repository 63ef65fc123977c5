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
import org.bytedeco.javacpp.Loader;
import org.junit.jupiter.api.Test;

/** -Dllamaspec.library.path, in fresh JVMs (a JVM loads the library once). */
class NativeLibraryTest {

    /** Loads a model and prints the first generated words, or the failure. */
    public static void main(String[] args) {
        try (LlamaModel model = LlamaModel.load(Paths.get(args[0])); Session session = model.newSession()) {
            System.out.println("OK " + session.generate("Once upon a time", TestModels.greedy(4)).text());
        } catch (LlamaException e) {
            System.out.println(e.code() + " " + e.getMessage());
        }
    }

    private static String run(String libraryPath) throws Exception {
        String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED",
                "-D" + NativeLibrary.PATH_PROPERTY + "=" + libraryPath,
                "-cp", System.getProperty("java.class.path"), NativeLibraryTest.class.getName(),
                TestModels.model().toString())
                .redirectErrorStream(true).start();
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
}
