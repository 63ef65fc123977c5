package dev.llamaspec.spring;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** Where the tests find their model; shared with the demo's tests through this module's test jar. */
public final class TestModel {
    private TestModel() {}

    /**
     * The system property {@code llamaspec.test.model}, else the environment variable
     * {@code LLAMASPEC_TEST_MODEL}, else {@code ../shared/models/stories260K.gguf} beside the checkout
     * (found from the {@code llamaspec.root} property that Maven passes, or from the module directory).
     */
    public static Path path() {
        String property = System.getProperty("llamaspec.test.model");
        String env = System.getenv("LLAMASPEC_TEST_MODEL");
        String root = System.getProperty("llamaspec.root");
        Path path;
        if (property != null && !property.isEmpty()) {
            path = Paths.get(property);
        } else if (env != null && !env.isEmpty()) {
            path = Paths.get(env);
        } else if (root != null && !root.isEmpty()) {
            path = Paths.get(root, "..", "shared", "models", "stories260K.gguf");
        } else {
            path = Paths.get("..", "..", "..", "..", "shared", "models", "stories260K.gguf");
        }
        path = path.toAbsolutePath().normalize();
        if (!Files.isRegularFile(path)) {
            throw new IllegalStateException("test model not found: " + path
                    + " (set -Dllamaspec.test.model=FILE or put the shared folder beside the checkout)");
        }
        return path;
    }
}
