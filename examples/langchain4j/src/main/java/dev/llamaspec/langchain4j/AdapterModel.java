package dev.llamaspec.langchain4j;

import dev.llamaspec.LlamaModel;

/**
 * An adapter's model and the adapter's own state: whether it owns the model (loaded it from a path, and
 * closes it), and whether the adapter is closed.
 */
final class AdapterModel {
    private final LlamaModel model;
    private final boolean owned;
    private final String adapter;
    private volatile boolean closed;

    AdapterModel(LlamaModel model, boolean owned, String adapter) {
        this.model = model;
        this.owned = owned;
        this.adapter = adapter;
    }

    LlamaModel model() {
        return model;
    }

    boolean owned() {
        return owned;
    }

    boolean isClosed() {
        return closed;
    }

    /** @throws IllegalStateException when the adapter is closed */
    void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("the " + adapter + " is closed (" + model.path() + ")");
        }
    }

    /** The first time: marks the adapter closed, runs {@code before}, then closes the model when owned. */
    void close(Runnable before) {
        if (closed) {
            return;
        }
        closed = true;
        before.run();
        if (owned) {
            model.close();
        }
    }
}
