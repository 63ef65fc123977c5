package dev.llamaspec;

/**
 * Settings of a {@link Session}'s context. Immutable; build with {@link #builder()}. Defaults and ranges
 * are the engine's ({@code sd_session_settings}: {@code n_ctx}, {@code n_batch}, {@code n_threads},
 * {@code flash_attn}, {@code kv_f32}).
 */
public final class SessionOptions {
    private static final Lazy<SessionOptions> DEFAULTS = new Lazy<>(() -> builder().build());

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

    /**
     * The engine's defaults.
     *
     * @throws LlamaException ({@link ErrorCode#NATIVE_LIBRARY}) when the native library, which holds
     *     them, cannot be loaded
     */
    public static SessionOptions defaults() {
        return DEFAULTS.get();
    }

    /** A builder starting from the engine's defaults (it loads the native library, see {@link #defaults()}). */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The smallest context size {@link Builder#contextSize(int)} takes besides 0 (the model's default): the
     * lower end of the engine's range ({@code n_ctx}). llama.cpp may round a size up (llama.cpp 0.7.0 to a
     * multiple of 256, so that its smallest context is 256 tokens); {@link Session#contextSize()} tells.
     *
     * @throws LlamaException ({@link ErrorCode#NATIVE_LIBRARY}) when the native library, which holds the
     *     range, cannot be loaded
     */
    public static int minContextSize() {
        return (int) SettingTable.SESSION.get("n_ctx").min();
    }

    /** The largest context size {@link Builder#contextSize(int)} takes: the upper end of the engine's range. */
    public static int maxContextSize() {
        return (int) SettingTable.SESSION.get("n_ctx").max();
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

    /** The options by the engine's names, as {@link LlamaModel#newSession(SessionOptions)} passes them. */
    NamedValues settings() {
        return new NamedValues().put("n_ctx", contextSize).put("n_batch", batchSize).put("n_threads", threads)
                .put("flash_attn", flashAttention).put("kv_f32", kvCacheF32);
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

        private Builder() {
            SettingTable t = SettingTable.SESSION;
            contextSize = t.get("n_ctx").intDefault();
            batchSize = t.get("n_batch").intDefault();
            threads = t.get("n_threads").intDefault();
            flashAttention = t.get("flash_attn").boolDefault();
            kvCacheF32 = t.get("kv_f32").boolDefault();
        }

        public Builder flashAttention(boolean flashAttention) {
            this.flashAttention = flashAttention;
            return this;
        }

        public Builder kvCacheF32(boolean kvCacheF32) {
            this.kvCacheF32 = kvCacheF32;
            return this;
        }

        /** Context size in tokens; 0 = the model's default. */
        public Builder contextSize(int contextSize) {
            this.contextSize = contextSize;
            return this;
        }

        /** Tokens per evaluation while reading a prompt; 0 = min(512, context size). */
        public Builder batchSize(int batchSize) {
            this.batchSize = batchSize;
            return this;
        }

        /** Threads; 0 = the model's default. */
        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        /** @throws IllegalArgumentException when a value is out of the engine's range, naming the option */
        public SessionOptions build() {
            SettingTable t = SettingTable.SESSION;
            t.get("n_ctx").check("contextSize", contextSize);
            t.get("n_batch").check("batchSize", batchSize);
            t.get("n_threads").check("threads", threads);
            return new SessionOptions(this);
        }
    }
}
