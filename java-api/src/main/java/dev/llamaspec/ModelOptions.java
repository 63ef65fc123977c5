package dev.llamaspec;

/**
 * How a model is loaded. Immutable; build with {@link #builder()}. Defaults and ranges are the engine's
 * ({@code sd_model_settings}: {@code n_threads}, {@code n_gpu_layers}, {@code use_mmap}, {@code n_ctx}).
 */
public final class ModelOptions {
    private static final Lazy<ModelOptions> DEFAULTS = new Lazy<>(() -> builder().build());

    private final int threads;
    private final int gpuLayers;
    private final boolean mmap;
    private final int contextSize;

    private ModelOptions(Builder b) {
        this.threads = b.threads;
        this.gpuLayers = b.gpuLayers;
        this.mmap = b.mmap;
        this.contextSize = b.contextSize;
    }

    /**
     * The engine's defaults.
     *
     * @throws LlamaException ({@link ErrorCode#NATIVE_LIBRARY}) when the native library, which holds
     *     them, cannot be loaded
     */
    public static ModelOptions defaults() {
        return DEFAULTS.get();
    }

    /** A builder starting from the engine's defaults (it loads the native library, see {@link #defaults()}). */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Default threads of this model's sessions; 0 = automatic: up to the number of cores (at most 8),
     * shared among the sessions evaluating at the moment and lowered while the machine is busy (see
     * {@link SessionOptions#threads()}).
     */
    public int threads() {
        return threads;
    }

    /** Layers offloaded to a GPU; -1 = all (the default), 0 = none. No effect without a GPU backend. */
    public int gpuLayers() {
        return gpuLayers;
    }

    /** Whether the file is memory-mapped rather than read (default true). */
    public boolean mmap() {
        return mmap;
    }

    /** Default context size of this model's sessions in tokens; 0 = the training context, at most 4096. */
    public int contextSize() {
        return contextSize;
    }

    public Builder toBuilder() {
        return new Builder().threads(threads).gpuLayers(gpuLayers).mmap(mmap).contextSize(contextSize);
    }

    /** The options by the engine's names, as {@link LlamaModel#load(java.nio.file.Path, ModelOptions)} passes them. */
    NamedValues settings() {
        return new NamedValues().put("n_threads", threads).put("n_gpu_layers", gpuLayers).put("use_mmap", mmap)
                .put("n_ctx", contextSize);
    }

    @Override
    public String toString() {
        return "ModelOptions{threads=" + threads + ", gpuLayers=" + gpuLayers + ", mmap=" + mmap
                + ", contextSize=" + contextSize + "}";
    }

    public static final class Builder {
        private int threads;
        private int gpuLayers;
        private boolean mmap;
        private int contextSize;

        private Builder() {
            SettingTable t = SettingTable.MODEL;
            threads = t.get("n_threads").intDefault();
            gpuLayers = t.get("n_gpu_layers").intDefault();
            mmap = t.get("use_mmap").boolDefault();
            contextSize = t.get("n_ctx").intDefault();
        }

        /** Default threads of the model's sessions; 0 = automatic (see {@link ModelOptions#threads()}). */
        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        /** Layers offloaded to a GPU, -1 for all. */
        public Builder gpuLayers(int gpuLayers) {
            this.gpuLayers = gpuLayers;
            return this;
        }

        public Builder mmap(boolean mmap) {
            this.mmap = mmap;
            return this;
        }

        /** Default context size of the model's sessions; 0 = the training context, at most 4096. */
        public Builder contextSize(int contextSize) {
            this.contextSize = contextSize;
            return this;
        }

        /** @throws IllegalArgumentException when a value is out of the engine's range, naming the option */
        public ModelOptions build() {
            SettingTable t = SettingTable.MODEL;
            t.get("n_threads").check("threads", threads);
            t.get("n_gpu_layers").check("gpuLayers", gpuLayers);
            t.get("n_ctx").check("contextSize", contextSize);
            return new ModelOptions(this);
        }
    }
}
