package dev.llamaspec;

import java.util.Objects;

/**
 * How {@link LlamaModel#embed(java.util.List, EmbeddingOptions)} turns texts into vectors. Immutable;
 * build with {@link #builder()}.
 */
public final class EmbeddingOptions {
    /** How a text's token vectors become one vector. */
    public enum Pooling {
        /** The model's own pooling; mean for a model that has none (generative models). */
        MODEL(-1),
        /** The mean of the tokens' vectors. */
        MEAN(1),
        /** The first token's vector (BERT's [CLS]). */
        CLS(2),
        /** The last token's vector. */
        LAST(3);

        final int code;

        Pooling(int code) {
            this.code = code;
        }

        static Pooling fromNative(int code) {
            for (Pooling p : values()) {
                if (p.code == code) {
                    return p;
                }
            }
            throw new IllegalStateException("unknown native pooling " + code);
        }
    }

    /** The longest text an embedding context takes by default, in tokens. */
    public static final int DEFAULT_CONTEXT_SIZE = 512;

    private static final EmbeddingOptions DEFAULTS = builder().build();

    private final Pooling pooling;
    private final boolean normalize;
    private final int contextSize;

    private EmbeddingOptions(Builder b) {
        this.pooling = b.pooling;
        this.normalize = b.normalize;
        this.contextSize = b.contextSize;
    }

    /** The model's pooling, L2-normalised vectors, texts of up to 512 tokens. */
    public static EmbeddingOptions defaults() {
        return DEFAULTS;
    }

    public static Builder builder() {
        return new Builder();
    }

    public Pooling pooling() {
        return pooling;
    }

    /** Whether vectors are scaled to length 1 (then their dot product is their cosine). */
    public boolean normalize() {
        return normalize;
    }

    /** The longest text, in tokens; longer ones fail with {@link ErrorCode#CONTEXT_OVERFLOW}. */
    public int contextSize() {
        return contextSize;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EmbeddingOptions e && e.pooling == pooling && e.normalize == normalize
                && e.contextSize == contextSize;
    }

    @Override
    public int hashCode() {
        return Objects.hash(pooling, normalize, contextSize);
    }

    @Override
    public String toString() {
        return "EmbeddingOptions{pooling=" + pooling + ", normalize=" + normalize + ", contextSize=" + contextSize + "}";
    }

    public static final class Builder {
        private Pooling pooling = Pooling.MODEL;
        private boolean normalize = true;
        private int contextSize = DEFAULT_CONTEXT_SIZE;

        private Builder() {}

        public Builder pooling(Pooling pooling) {
            this.pooling = Objects.requireNonNull(pooling, "pooling");
            return this;
        }

        public Builder normalize(boolean normalize) {
            this.normalize = normalize;
            return this;
        }

        /** @throws IllegalArgumentException outside 8 to 16,777,216 tokens, at once */
        public Builder contextSize(int contextSize) {
            if (contextSize < 8 || contextSize > (1 << 24)) {
                throw new IllegalArgumentException("contextSize must be in [8, 16777216], got " + contextSize);
            }
            this.contextSize = contextSize;
            return this;
        }

        public EmbeddingOptions build() {
            return new EmbeddingOptions(this);
        }
    }
}
