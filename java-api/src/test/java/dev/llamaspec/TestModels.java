package dev.llamaspec;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/** Where the tests find their model and prompts: LLAMASPEC_TEST_MODEL, else ../shared beside the checkout. */
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

    /** The first sentence of each of the first n stories of the shared TinyStories sample. */
    static List<String> storyOpenings(int n) {
        Path corpus = root().resolve("../shared/corpus/tinystories_train_sample.txt").normalize();
        String text;
        try {
            text = Files.readString(corpus, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the prompt corpus " + corpus, e);
        }
        List<String> openings = new ArrayList<>();
        for (String story : text.split("<\\|endoftext\\|>")) {
            String s = story.strip();
            int end = s.indexOf(". ");
            if (s.isEmpty() || end < 0) {
                continue;
            }
            openings.add(s.substring(0, end + 1));
            if (openings.size() == n) {
                break;
            }
        }
        return openings;
    }

    static GenerationOptions greedy(int maxTokens) {
        return GenerationOptions.builder().temperature(0).maxTokens(maxTokens).build();
    }
}
