package dev.llamaspec.examples.chat;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the shaded jar in its own process, as README's command does. */
final class Cli {
    record Result(int code, String out, String err) {}

    private Cli() {}

    static Path jar() {
        String jar = System.getProperty("chat.jar");
        if (jar == null) {
            throw new IllegalStateException("system property chat.jar is not set (the failsafe plugin sets it)");
        }
        Path path = Paths.get(jar);
        if (!Files.isRegularFile(path)) {
            throw new IllegalStateException("the chat jar is not built: " + path);
        }
        return path;
    }

    static String java() {
        return Paths.get(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** {@code java --enable-native-access=ALL-UNNAMED -jar llamaspec-chat.jar ARGS}. */
    static List<String> command(String... args) {
        List<String> command = new ArrayList<>(List.of(java(), "--enable-native-access=ALL-UNNAMED", "-jar",
                jar().toString()));
        command.addAll(List.of(args));
        return command;
    }

    /** Runs to the end (30 s at most) in {@code dir} with no input. */
    static Result run(Path dir, String... args) throws IOException, InterruptedException {
        Path out = Files.createTempFile("chat-out", ".txt");
        Path err = Files.createTempFile("chat-err", ".txt");
        try {
            Process p = new ProcessBuilder(command(args)).directory(dir.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Paths.get("/dev/null").toFile()))
                    .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                fail("llamaspec-chat " + String.join(" ", args) + " did not end within 30 s; stderr:\n"
                        + Files.readString(err, StandardCharsets.UTF_8));
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
