package dev.llamaspec.examples.generate;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the shaded jar in its own process, as ci/generate does. */
final class Jar {
    record Result(int code, String out, String err) {}

    private Jar() {}

    static Path root() {
        String root = System.getProperty("llamaspec.root");
        return root != null ? Paths.get(root) : Paths.get("../..").toAbsolutePath().normalize();
    }

    static Path model() {
        Path path = root().resolve(Generate.DEFAULT_MODEL).normalize();
        if (!Files.isRegularFile(path)) {
            throw new IllegalStateException("test model not found: " + path + " (put the shared folder beside the checkout)");
        }
        return path;
    }

    static Path jar() {
        String jar = System.getProperty("generate.jar");
        if (jar == null) {
            throw new IllegalStateException("system property generate.jar is not set (the failsafe plugin sets it)");
        }
        return Paths.get(jar);
    }

    /** {@code java --enable-native-access=ALL-UNNAMED -jar llamaspec-generate.jar ARGS} in {@code dir}, 30 s at most. */
    static Result run(Path dir, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Paths.get(System.getProperty("java.home"), "bin", "java")
                .toString(), "--enable-native-access=ALL-UNNAMED", "-jar", jar().toString()));
        command.addAll(List.of(args));
        Path out = Files.createTempFile("generate-out", ".txt");
        Path err = Files.createTempFile("generate-err", ".txt");
        try {
            Process p = new ProcessBuilder(command).directory(dir.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Paths.get("/dev/null").toFile()))
                    .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                fail("llamaspec-generate " + String.join(" ", args) + " did not end within 30 s; stderr:\n"
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
