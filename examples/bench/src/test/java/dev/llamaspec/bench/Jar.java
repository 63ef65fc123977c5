package dev.llamaspec.bench;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs one of the benchmarks from the shaded jar in its own process, as ci/bench, ci/bench-plain and ci/soak do. */
final class Jar {
    record Result(int code, String out, String err) {}

    private Jar() {}

    static Path root() {
        String root = System.getProperty("llamaspec.root");
        return root != null ? Paths.get(root) : Paths.get("../..").toAbsolutePath().normalize();
    }

    static Path model() {
        Path path = root().resolve(PlainBench.DEFAULT_MODEL).normalize();
        if (!Files.isRegularFile(path)) {
            throw new IllegalStateException("test model not found: " + path + " (put the shared folder beside the checkout)");
        }
        return path;
    }

    static Path jar() {
        String jar = System.getProperty("bench.jar");
        if (jar == null) {
            throw new IllegalStateException("system property bench.jar is not set (the failsafe plugin sets it)");
        }
        return Paths.get(jar);
    }

    /** {@code java --enable-native-access=ALL-UNNAMED -cp llamaspec-bench.jar dev.llamaspec.bench.MAIN ARGS} from the repository root, 60 s at most. */
    static Result run(String main, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Paths.get(System.getProperty("java.home"), "bin", "java")
                .toString(), "--enable-native-access=ALL-UNNAMED", "-cp", jar().toString(), "dev.llamaspec.bench." + main));
        command.addAll(List.of(args));
        Path out = Files.createTempFile("bench-out", ".txt");
        Path err = Files.createTempFile("bench-err", ".txt");
        try {
            Process p = new ProcessBuilder(command).directory(root().toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Paths.get("/dev/null").toFile()))
                    .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                fail(main + " " + String.join(" ", args) + " did not end within 60 s; stderr:\n"
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
