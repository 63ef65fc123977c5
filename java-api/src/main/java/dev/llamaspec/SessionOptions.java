package dev.llamaspec;

/** Settings of a {@link Session}'s context. Immutable; build with {@link #builder()}. */
public final class SessionOptions {
    private static final SessionOptions DEFAULTS = builder().build();

    private final int contextSize;
    private final int batchSize;
    private final int threads;

    private SessionOptions(Builder b) {
        this.contextSize = b.contextSize;
        this.batchSize = b.batchSize;
        this.threads = b.threads;
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

    @Override
    public String toString() {
        return "SessionOptions{contextSize=" + contextSize + ", batchSize=" + batchSize + ", threads=" + threads + "}";
    }

    public static final class Builder {
        private int contextSize;
        private int batchSize;
        private int threads;

        private Builder() {}

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
