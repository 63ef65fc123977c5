package dev.llamaspec.langchain4j;

import dev.llamaspec.GenerationOptions;
import dev.llamaspec.ModelOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** The test model: LLAMASPEC_TEST_MODEL, else ../shared/models/stories260K.gguf beside the checkout. */
final class TestModel {
    /** One thread: on a busy 2-core machine llama.cpp's threads wait for each other. */
    static final ModelOptions ONE_THREAD = ModelOptions.builder().threads(1).build();

    private TestModel() {}

    static Path path() {
        String env = System.getenv("LLAMASPEC_TEST_MODEL");
        String root = System.getProperty("llamaspec.root", "../..");
        Path path = env != null && !env.isEmpty() ? Paths.get(env)
                : Paths.get(root, "..", "shared", "models", "stories260K.gguf");
        path = path.toAbsolutePath().normalize();
        if (!Files.isRegularFile(path)) {
            throw new IllegalStateException("test model not found: " + path
                    + " (set LLAMASPEC_TEST_MODEL or put the shared folder beside the checkout)");
        }
        return path;
    }

    static GenerationOptions greedy(int maxTokens) {
        return GenerationOptions.builder().temperature(0).maxTokens(maxTokens).build();
    }
}
