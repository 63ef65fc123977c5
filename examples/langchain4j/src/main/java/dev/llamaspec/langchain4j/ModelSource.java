package dev.llamaspec.langchain4j;

import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelOptions;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Where an adapter's model comes from, as its builder was told: a file the adapter loads (and then owns:
 * its {@code close()} closes the model), or a {@link LlamaModel} the caller loaded (and closes).
 */
final class ModelSource {
    private Path path;
    private ModelOptions options;
    private LlamaModel model;

    void path(Path path) {
        this.path = Objects.requireNonNull(path, "modelPath");
    }

    void options(ModelOptions options) {
        this.options = Objects.requireNonNull(options, "modelOptions");
    }

    void model(LlamaModel model) {
        this.model = Objects.requireNonNull(model, "model");
    }

    /**
     * Checks that exactly one source is set, before anything is loaded.
     *
     * @throws IllegalStateException naming what is missing or contradictory
     */
    void check(String adapter) {
        if (path == null && model == null) {
            throw new IllegalStateException(adapter + " needs a model: set modelPath(Path) to load one, or"
                    + " model(LlamaModel) to use a loaded one");
        }
        if (path != null && model != null) {
            throw new IllegalStateException(adapter + " has both modelPath(" + path + ") and model(" + model.path()
                    + "); set one");
        }
        if (options != null && model != null) {
            throw new IllegalStateException(adapter + ": modelOptions apply to a model loaded from modelPath; model("
                    + model.path() + ") was loaded with its own");
        }
        if (model != null && model.isClosed()) {
            throw new IllegalStateException(adapter + ": the model is closed: " + model.path());
        }
    }

    /**
     * The given model, or the file loaded (owned by the adapter).
     *
     * @throws dev.llamaspec.LlamaException ({@link dev.llamaspec.ErrorCode#MODEL_LOAD}) naming the path when the
     *     file is missing or not a loadable GGUF model
     */
    AdapterModel open(String adapter) {
        if (model != null) {
            return new AdapterModel(model, false, adapter);
        }
        return new AdapterModel(LlamaModel.load(path, options != null ? options : ModelOptions.defaults()), true,
                adapter);
    }

    /** The model's {@code general.name}, or its file name without {@code .gguf} when it has none. */
    static String nameOf(LlamaModel model) {
        String name = model.info().name();
        if (name != null && !name.isBlank()) {
            return name;
        }
        String file = model.path().getFileName().toString();
        return file.endsWith(".gguf") ? file.substring(0, file.length() - ".gguf".length()) : file;
    }
}
