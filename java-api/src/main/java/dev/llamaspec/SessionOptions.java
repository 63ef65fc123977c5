package dev.llamaspec;

/** Settings of a {@link Session}'s context. Immutable; build with {@link #builder()}. */
public final class SessionOptions {
    private static final SessionOptions DEFAULTS = builder().build();

    private final int contextSize;
    private final int batchSize;
    private final int threads;
    private final boolean flashAttention;
    private final boolean kvCacheF32;

    private SessionOptions(Builder b) {
        this.contextSize = b.contextSize;
        this.batchSize = b.batchSize;
        this.threads = b.threads;
        this.flashAttention = b.flashAttention;
        this.kvCacheF32 = b.kvCacheF32;
    }

    public static SessionOptions defaults() {
        return DEFAULTS;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Context size in tokens; 0 = the model's default. llama.cpp may round it up. */
    public int contextSize() {
        return contextSize;
    }

    /** Tokens per evaluation while reading a prompt; 0 = min(512, context size). */
    public int batchSize() {
        return batchSize;
    }

    /** Threads; 0 = the model's default. */
    public int threads() {
        return threads;
    }

    /**
     * Whether llama.cpp's flash attention is used (default false). It saves memory and is faster on
     * GPUs and for some models on CPUs, but its results depend on how many tokens share a batch, so
     * with speculation greedy output can differ from plain decoding where the two most likely tokens
     * nearly tie (logit margins up to about 3e-3 were seen).
     */
    public boolean flashAttention() {
        return flashAttention;
    }

    /** Whether keys and values are stored in F32 instead of F16 (default false; twice the memory). */
    public boolean kvCacheF32() {
        return kvCacheF32;
    }

    @Override
    public String toString() {
        return "SessionOptions{contextSize=" + contextSize + ", batchSize=" + batchSize + ", threads=" + threads
                + ", flashAttention=" + flashAttention + ", kvCacheF32=" + kvCacheF32 + "}";
    }

    public static final class Builder {
        private int contextSize;
        private int batchSize;
        private int threads;
        private boolean flashAttention;
        private boolean kvCacheF32;

        private Builder() {}

        public Builder flashAttention(boolean flashAttention) {
            this.flashAttention = flashAttention;
            return this;
        }

        public Builder kvCacheF32(boolean kvCacheF32) {
            this.kvCacheF32 = kvCacheF32;
            return this;
        }

        public Builder contextSize(int contextSize) {
            this.contextSize = contextSize;
            return this;
        }

        public Builder batchSize(int batchSize) {
            this.batchSize = batchSize;
            return this;
        }

        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        /** @throws IllegalArgumentException when a value is out of range */
        public SessionOptions build() {
            if (contextSize != 0) {
                Checks.range("contextSize", contextSize, 8, 1 << 24);
            }
            Checks.range("batchSize", batchSize, 0, 1 << 16);
            Checks.range("threads", threads, 0, 512);
            return new SessionOptions(this);
        }
    }
}
