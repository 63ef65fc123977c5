package dev.llamaspec.spring;

import dev.llamaspec.LlamaModel;
import java.util.Objects;

/**
 * The draft model of {@code llamaspec.draft-model}: a second {@link LlamaModel} with the model's
 * vocabulary, used by {@code llamaspec.speculation=draft}. It is a bean of its own type so that injecting
 * {@code LlamaModel} still finds the one model. Closing it closes the draft model.
 */
public final class DraftModel implements AutoCloseable {
    private final LlamaModel model;

    public DraftModel(LlamaModel model) {
        this.model = Objects.requireNonNull(model, "model");
    }

    public LlamaModel model() {
        return model;
    }

    @Override
    public void close() {
        model.close();
    }
}
