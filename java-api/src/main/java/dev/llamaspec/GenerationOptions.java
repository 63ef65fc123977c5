package dev.llamaspec;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * How one generation samples and when it stops. Immutable; build with {@link #builder()}. The
 * defaults are llama.cpp's: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no repeat penalty,
 * a random seed, 256 tokens at most. Temperature 0 is greedy decoding (always the most likely token).
 */
public final class GenerationOptions {
    private static final GenerationOptions DEFAULTS = builder().build();
    private static final GenerationOptions GREEDY = builder().temperature(0).build();

    /** Value of {@link #seed()} that asks for a random seed. */
    public static final long RANDOM_SEED = 0xFFFFFFFFL;

    private final int maxTokens;
    private final List<String> stop;
    private final float temperature;
    private final int topK;
    private final float topP;
    private final float minP;
    private final float repeatPenalty;
    private final int repeatLastN;
    private final long seed;
    private final Speculation speculation;

    private GenerationOptions(Builder b) {
        this.maxTokens = b.maxTokens;
        this.stop = Collections.unmodifiableList(new ArrayList<>(b.stop));
        this.temperature = b.temperature;
        this.topK = b.topK;
        this.topP = b.topP;
        this.minP = b.minP;
        this.repeatPenalty = b.repeatPenalty;
        this.repeatLastN = b.repeatLastN;
        this.seed = b.seed;
        this.speculation = b.speculation;
    }

    public static GenerationOptions defaults() {
        return DEFAULTS;
    }

    /** Greedy decoding with the default limits. */
    public static GenerationOptions greedy() {
        return GREEDY;
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder().maxTokens(maxTokens).stop(stop).temperature(temperature).topK(topK).topP(topP)
                .minP(minP).repeatPenalty(repeatPenalty).repeatLastN(repeatLastN);
        b.seed = seed;
        b.speculation = speculation;
        return b;
    }

    /** Most tokens generated. */
    public int maxTokens() {
        return maxTokens;
    }

    /** The generation ends before the first occurrence of any of these; they are not in the text. */
    public List<String> stop() {
        return stop;
    }

    public float temperature() {
        return temperature;
    }

    /** 0 = off. */
    public int topK() {
        return topK;
    }

    /** 1 = off. */
    public float topP() {
        return topP;
    }

    /** 0 = off. */
    public float minP() {
        return minP;
    }

    /** 1 = off. */
    public float repeatPenalty() {
        return repeatPenalty;
    }

    public int repeatLastN() {
        return repeatLastN;
    }

    /** The sampling seed, or {@link #RANDOM_SEED}. */
    public long seed() {
        return seed;
    }

    /** How this generation speculates; {@link Speculation#none()} by default. */
    public Speculation speculation() {
        return speculation;
    }

    @Override
    public String toString() {
        return "GenerationOptions{maxTokens=" + maxTokens + ", stop=" + stop + ", temperature=" + temperature
                + ", topK=" + topK + ", topP=" + topP + ", minP=" + minP + ", repeatPenalty=" + repeatPenalty
                + ", repeatLastN=" + repeatLastN + ", seed=" + (seed == RANDOM_SEED ? "random" : seed) + ", speculation=" + speculation + "}";
    }

    public static final class Builder {
        private int maxTokens = 256;
        private List<String> stop = new ArrayList<>();
        private float temperature = 0.8f;
        private int topK = 40;
        private float topP = 0.95f;
        private float minP = 0.05f;
        private float repeatPenalty = 1.0f;
        private int repeatLastN = 64;
        private long seed = RANDOM_SEED;
        private Speculation speculation = Speculation.none();

        private Builder() {}

        /** Speculative decoding for this generation; the output is the same, only the speed changes. */
        public Builder speculation(Speculation speculation) {
            this.speculation = Objects.requireNonNull(speculation, "speculation");
            return this;
        }

        public Builder maxTokens(int maxTokens) {
            this.maxTokens = maxTokens;
            return this;
        }

        public Builder stop(List<String> stop) {
            Objects.requireNonNull(stop, "stop");
            this.stop = new ArrayList<>(stop);
            return this;
        }

        public Builder stop(String... stop) {
            return stop(List.of(stop));
        }

        public Builder temperature(float temperature) {
            this.temperature = temperature;
            return this;
        }

        public Builder topK(int topK) {
            this.topK = topK;
            return this;
        }

        public Builder topP(float topP) {
            this.topP = topP;
            return this;
        }

        public Builder minP(float minP) {
            this.minP = minP;
            return this;
        }

        public Builder repeatPenalty(float repeatPenalty) {
            this.repeatPenalty = repeatPenalty;
            return this;
        }

        public Builder repeatLastN(int repeatLastN) {
            this.repeatLastN = repeatLastN;
            return this;
        }

        /** A seed in [0, 2^32 - 2] makes sampling reproducible. */
        public Builder seed(long seed) {
            if (seed < 0 || seed >= RANDOM_SEED) {
                throw new IllegalArgumentException("seed must be in [0, " + (RANDOM_SEED - 1) + "], got " + seed);
            }
            this.seed = seed;
            return this;
        }

        public Builder randomSeed() {
            this.seed = RANDOM_SEED;
            return this;
        }

        /** @throws IllegalArgumentException when a value is out of range */
        public GenerationOptions build() {
            Checks.range("maxTokens", maxTokens, 1, 1 << 24);
            for (String s : stop) {
                if (s == null || s.isEmpty()) {
                    throw new IllegalArgumentException("stop strings must not be null or empty");
                }
            }
            Checks.finite("temperature", temperature, 0f, 100f, true);
            Checks.range("topK", topK, 0, Integer.MAX_VALUE);
            Checks.finite("topP", topP, 0f, 1f, false);
            Checks.finite("minP", minP, 0f, 0.9999f, true);
            Checks.finite("repeatPenalty", repeatPenalty, 0f, 100f, false);
            Checks.range("repeatLastN", repeatLastN, 0, 1 << 20);
            return new GenerationOptions(this);
        }
    }
}
