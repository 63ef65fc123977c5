package dev.llamaspec.examples.chat;

import dev.llamaspec.ModelOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** Where the tests find the checkout and the model: LLAMASPEC_TEST_MODEL, else ../shared beside the checkout. */
final class TestModel {
    /**
     * One thread: on a busy 2-core machine llama.cpp's threads wait for each other and two are many
     * times slower than one. Greedy output does not depend on the thread count.
     */
    static final ModelOptions ONE_THREAD = ModelOptions.builder().threads(1).build();

    private TestModel() {}

    /** The repository root (the Maven property llamaspec.root, passed as a system property). */
    static Path root() {
        String root = System.getProperty("llamaspec.root");
        return root != null ? Paths.get(root) : Paths.get("../..").toAbsolutePath().normalize();
    }

    static Path path() {
        String env = System.getenv("LLAMASPEC_TEST_MODEL");
        Path path = env != null && !env.isEmpty() ? Paths.get(env)
                : root().resolve(ChatCli.DEFAULT_MODEL).normalize();
        if (!Files.isRegularFile(path)) {
            throw new IllegalStateException("test model not found: " + path
                    + " (set LLAMASPEC_TEST_MODEL or put the shared folder beside the checkout)");
        }
        return path.toAbsolutePath();
    }
}
