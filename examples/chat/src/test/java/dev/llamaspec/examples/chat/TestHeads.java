package dev.llamaspec.examples.chat;

import dev.llamaspec.LlamaModel;
import dev.llamaspec.MedusaTrainer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Medusa heads for the test model, trained in the test: a few steps on the shared corpus. */
final class TestHeads {
    private TestHeads() {}

    /** Trains two heads for {@code model} (a few steps: poor heads, but made for this model) into {@code dir}. */
    static Path train(LlamaModel model, Path dir) {
        Path corpus = TestModel.root().resolve("../shared/corpus/tinystories_train_sample.txt").normalize();
        Path heads = dir.resolve("heads.gguf");
        MedusaTrainer.builder(corpus).heads(2).steps(4).batchSize(16).maxTokens(8000).maxEvalExamples(100).threads(1)
                .build().train(model, heads);
        return heads;
    }

    /** A copy of {@code heads} that records another model's fingerprint, as heads made for another model do. */
    static Path forAnotherModel(LlamaModel model, Path heads, Path dir) throws IOException {
        String file = new String(Files.readAllBytes(heads), StandardCharsets.ISO_8859_1);
        String other = file.replace(model.fingerprint(), "0123456789abcdef");
        if (other.equals(file)) {
            throw new IllegalStateException("the heads file does not record the fingerprint " + model.fingerprint());
        }
        return Files.write(dir.resolve("other-heads.gguf"), other.getBytes(StandardCharsets.ISO_8859_1));
    }
}
