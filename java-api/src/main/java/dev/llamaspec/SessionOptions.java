package dev.llamaspec;

/**
 * Settings of a {@link Session}'s context. Immutable; build with {@link #builder()}. Defaults and ranges
 * are the engine's ({@code sd_session_settings}: {@code n_ctx}, {@code n_batch}, {@code n_threads},
 * {@code flash_attn}, {@code kv_f32}, {@code strict_numerics}).
 *
 * <p><b>Numerics.</b> By default flash attention is on wherever llama.cpp chooses it (on the CPU it
 * does), which is faster; but a token's attention then rounds slightly differently depending on how
 * many tokens are evaluated together, so greedy speculative output can depart from plain greedy output
 * at a near-tie (where the two most likely tokens are within a rounding error of each other). Sampled
 * output always follows the model's distribution. {@link Builder#strictNumerics(boolean)
 * strictNumerics(true)} turns flash attention off and keeps keys and values in F32: batched and single
 * evaluation then agree, and greedy speculative output equals plain greedy output token for token.
 */
public final class SessionOptions {
    /** Flash attention: as llama.cpp chooses (on where the backend supports it), on, or off. */
    public enum FlashAttention {
        AUTO(-1), ON(1), OFF(0);

        private final int code;

        FlashAttention(int code) {
            this.code = code;
        }

        static FlashAttention fromCode(int code) {
            for (FlashAttention f : values()) {
                if (f.code == code) {
                    return f;
                }
            }
            throw new IllegalStateException("unknown flash attention setting " + code);
        }
    }


    private static final Lazy<SessionOptions> DEFAULTS = new Lazy<>(() -> builder().build());

    private final int contextSize;
    private final int batchSize;
    private final int threads;
    private final FlashAttention flashAttention;
    private final boolean kvCacheF32;
    private final boolean strictNumerics;

    private SessionOptions(Builder b) {
        this.contextSize = b.contextSize;
        this.batchSize = b.batchSize;
        this.threads = b.threads;
        this.flashAttention = b.flashAttention;
        this.kvCacheF32 = b.kvCacheF32;
        this.strictNumerics = b.strictNumerics;
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

    /**
     * Threads; 0 = the model's default. When neither gives a number, threads are automatic: the
     * model's default divided among the sessions of the process evaluating their model at the moment,
     * and lowered while other programs keep the cores busy (learnt from the evaluations' own times;
     * {@link Session#threads()} tells the count in use). A number is used as given.
     */
    public int threads() {
        return threads;
    }

    /**
     * Flash attention (default {@link FlashAttention#AUTO}: llama.cpp's choice, on where the backend
     * supports it). It is faster and needs less memory; see the class comment for what it means for
     * greedy speculative output. {@link #strictNumerics()} overrides it.
     */
    public FlashAttention flashAttention() {
        return flashAttention;
    }

    /** Whether keys and values are stored in F32 instead of F16 (default false; twice the memory). */
    public boolean kvCacheF32() {
        return kvCacheF32;
    }

    /**
     * Whether numerics are strict (default false): flash attention off and keys and values in F32,
     * whatever {@link #flashAttention()} and {@link #kvCacheF32()} say, so that greedy speculative
     * output equals plain greedy output token for token. Slower than the default.
     */
    public boolean strictNumerics() {
        return strictNumerics;
    }

    /** The options by the engine's names, as {@link LlamaModel#newSession(SessionOptions)} passes them. */
    NamedValues settings() {
        return new NamedValues().put("n_ctx", contextSize).put("n_batch", batchSize).put("n_threads", threads)
                .put("flash_attn", flashAttention.code).put("kv_f32", kvCacheF32)
                .put("strict_numerics", strictNumerics);
    }

    @Override
    public String toString() {
        return "SessionOptions{contextSize=" + contextSize + ", batchSize=" + batchSize + ", threads=" + threads
                + ", flashAttention=" + flashAttention + ", kvCacheF32=" + kvCacheF32 + ", strictNumerics="
                + strictNumerics + "}";
    }

    public static final class Builder {
        private int contextSize;
        private int batchSize;
        private int threads;
        private FlashAttention flashAttention;
        private boolean kvCacheF32;
        private boolean strictNumerics;

        private Builder() {
            SettingTable t = SettingTable.SESSION;
            contextSize = t.get("n_ctx").intDefault();
            batchSize = t.get("n_batch").intDefault();
            threads = t.get("n_threads").intDefault();
            flashAttention = FlashAttention.fromCode(t.get("flash_attn").intDefault());
            kvCacheF32 = t.get("kv_f32").boolDefault();
            strictNumerics = t.get("strict_numerics").boolDefault();
        }

        /** Flash attention: {@link FlashAttention#AUTO} (the default), on or off. */
        public Builder flashAttention(FlashAttention flashAttention) {
            this.flashAttention = java.util.Objects.requireNonNull(flashAttention, "flashAttention");
            return this;
        }

        /** Flash attention on ({@code true}) or off ({@code false}) instead of llama.cpp's choice. */
        public Builder flashAttention(boolean on) {
            return flashAttention(on ? FlashAttention.ON : FlashAttention.OFF);
        }

        /**
         * Strict numerics: flash attention off and keys and values in F32, so that greedy speculative
         * output equals plain greedy output token for token (see the class comment).
         */
        public Builder strictNumerics(boolean strictNumerics) {
            this.strictNumerics = strictNumerics;
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

        /** Threads; 0 = the model's default (see {@link SessionOptions#threads()}). */
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
