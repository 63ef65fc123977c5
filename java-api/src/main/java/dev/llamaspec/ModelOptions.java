package dev.llamaspec;

/** How a model is loaded. Immutable; build with {@link #builder()}. */
public final class ModelOptions {
    private static final ModelOptions DEFAULTS = builder().build();

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

    public static ModelOptions defaults() {
        return DEFAULTS;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Default threads of this model's sessions; 0 = the number of cores, at most 8. */
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

    @Override
    public String toString() {
        return "ModelOptions{threads=" + threads + ", gpuLayers=" + gpuLayers + ", mmap=" + mmap
                + ", contextSize=" + contextSize + "}";
    }

    public static final class Builder {
        private int threads = 0;
        private int gpuLayers = -1;
        private boolean mmap = true;
        private int contextSize = 0;

        private Builder() {}

        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        public Builder gpuLayers(int gpuLayers) {
            this.gpuLayers = gpuLayers;
            return this;
        }

        public Builder mmap(boolean mmap) {
            this.mmap = mmap;
            return this;
        }

        public Builder contextSize(int contextSize) {
            this.contextSize = contextSize;
            return this;
        }

        /** @throws IllegalArgumentException when a value is out of range */
        public ModelOptions build() {
            Checks.range("threads", threads, 0, 512);
            Checks.range("gpuLayers", gpuLayers, -1, Integer.MAX_VALUE);
            if (contextSize != 0) {
                Checks.range("contextSize", contextSize, 8, 1 << 24);
            }
            return new ModelOptions(this);
        }
    }
}
