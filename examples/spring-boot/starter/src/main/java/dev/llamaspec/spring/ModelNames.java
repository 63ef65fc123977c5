package dev.llamaspec.spring;

import dev.llamaspec.LlamaModel;

/** How a model is named in responses. */
public final class ModelNames {
    private ModelNames() {}

    /** The model's {@code general.name}, or its file name without {@code .gguf} when it has none. */
    public static String of(LlamaModel model) {
        String name = model.info().name();
        if (name != null && !name.isBlank()) {
            return name;
        }
        String file = model.path().getFileName().toString();
        return file.endsWith(".gguf") ? file.substring(0, file.length() - ".gguf".length()) : file;
    }
}
