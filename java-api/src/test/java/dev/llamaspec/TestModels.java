package dev.llamaspec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** Where the tests find their model: LLAMASPEC_TEST_MODEL, else ../shared/models/stories260K.gguf. */
final class TestModels {
    private TestModels() {}

    static Path root() {
        String root = System.getProperty("llamaspec.root");
        return root != null ? Paths.get(root) : Paths.get("..").toAbsolutePath().normalize();
    }

    static Path model() {
        String env = System.getenv("LLAMASPEC_TEST_MODEL");
        Path path = env != null && !env.isEmpty() ? Paths.get(env)
                : root().resolve("../shared/models/stories260K.gguf").normalize();
        if (!Files.isRegularFile(path)) {
            throw new IllegalStateException("test model not found: " + path
                    + " (set LLAMASPEC_TEST_MODEL or put the shared folder beside the checkout)");
        }
        return path;
    }
}
