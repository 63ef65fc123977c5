package dev.llamaspec;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * How one generation samples and when it stops. Immutable; build with {@link #builder()}. Defaults and
 * ranges are the engine's ({@code sd_generation_settings}), which follow llama.cpp's: temperature 0.8,
 * top-k 40, top-p 0.95, min-p 0.05, no repeat penalty, a random seed, 256 tokens at most. Temperature 0
 * is greedy decoding (always the most likely token).
 */
public final class GenerationOptions {
    private static final Lazy<GenerationOptions> DEFAULTS = new Lazy<>(() -> builder().build());
    private static final Lazy<GenerationOptions> GREEDY = new Lazy<>(() -> builder().temperature(0).build());

    /** Value of {@link #seed()} that asks for a random seed (the engine's {@code LLAMA_DEFAULT_SEED}). */
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
    private final String grammar;

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
        this.grammar = b.grammar;
    }

    /**
     * The engine's defaults.
     *
     * @throws LlamaException ({@link ErrorCode#NATIVE_LIBRARY}) when the native library, which holds
     *     them, cannot be loaded
     */
    public static GenerationOptions defaults() {
        return DEFAULTS.get();
    }

    /** Greedy decoding with the default limits. */
    public static GenerationOptions greedy() {
        return GREEDY.get();
    }

    /** A builder starting from the engine's defaults (it loads the native library, see {@link #defaults()}). */
    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder().maxTokens(maxTokens).stop(stop).temperature(temperature).topK(topK).topP(topP)
                .minP(minP).repeatPenalty(repeatPenalty).repeatLastN(repeatLastN);
        b.seed = seed;
        b.speculation = speculation;
        b.grammar = grammar;
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

    /**
     * The grammar (llama.cpp's GBNF, root rule {@code root}) every generated token must follow, empty
     * when the text is free; {@link Builder#jsonSchema(String)} and {@link Builder#jsonObject()} set it
     * too. The text is drawn from the model's distribution restricted to what the grammar allows, with
     * speculation as without it.
     */
    public Optional<String> grammar() {
        return Optional.ofNullable(grammar);
    }

    /**
     * The sampling settings by the engine's names, as a generation passes them (the stop strings and the
     * speculation cross separately).
     */
    NamedValues settings() {
        return new NamedValues().put("max_tokens", maxTokens).put("temperature", temperature).put("top_k", topK)
                .put("top_p", topP).put("min_p", minP).put("repeat_penalty", repeatPenalty)
                .put("repeat_last_n", repeatLastN).put("seed", seed);
    }

    @Override
    public String toString() {
        return "GenerationOptions{maxTokens=" + maxTokens + ", stop=" + stop + ", temperature=" + temperature
                + ", topK=" + topK + ", topP=" + topP + ", minP=" + minP + ", repeatPenalty=" + repeatPenalty
                + ", repeatLastN=" + repeatLastN + ", seed=" + (seed == RANDOM_SEED ? "random" : seed) + ", speculation=" + speculation
                + (grammar == null ? "" : ", grammar=" + grammar.length() + " characters") + "}";
    }

    public static final class Builder {
        private int maxTokens;
        private List<String> stop = new ArrayList<>();
        private float temperature;
        private int topK;
        private float topP;
        private float minP;
        private float repeatPenalty;
        private int repeatLastN;
        private long seed;
        private Speculation speculation = Speculation.none();
        private String grammar;

        private Builder() {
            SettingTable t = SettingTable.GENERATION;
            maxTokens = t.get("max_tokens").intDefault();
            temperature = t.get("temperature").floatDefault();
            topK = t.get("top_k").intDefault();
            topP = t.get("top_p").floatDefault();
            minP = t.get("min_p").floatDefault();
            repeatPenalty = t.get("repeat_penalty").floatDefault();
            repeatLastN = t.get("repeat_last_n").intDefault();
            seed = t.get("seed").longDefault();
        }

        /** Speculative decoding for this generation; the output is the same, only the speed changes. */
        public Builder speculation(Speculation speculation) {
            this.speculation = Objects.requireNonNull(speculation, "speculation");
            return this;
        }

        /**
         * Structured output: every token must follow this grammar, in llama.cpp's GBNF with a rule
         * {@code root} (null: no grammar). The grammar matches the generated text only, not the prompt.
         * When it is complete the generation ends ({@link StopReason#END_OF_TEXT}); when it allows no
         * token, with {@link StopReason#GRAMMAR}. A grammar llama.cpp cannot parse is an
         * {@link IllegalArgumentException} with the parser's message when the generation starts (the
         * parser needs the model's vocabulary), before anything is evaluated.
         */
        public Builder grammar(String gbnf) {
            if (gbnf != null && gbnf.isBlank()) {
                throw new IllegalArgumentException("the grammar is empty (null means no grammar)");
            }
            this.grammar = gbnf;
            return this;
        }

        /**
         * Structured output: the text is one JSON value valid against this JSON Schema (converted to a
         * grammar by {@link JsonSchemaGrammar}; see there for what is supported).
         *
         * @throws IllegalArgumentException at once, naming the schema path and what is wrong or not
         *     supported
         */
        public Builder jsonSchema(String schema) {
            this.grammar = JsonSchemaGrammar.fromSchema(schema);
            return this;
        }

        /** Structured output: the text is one JSON object, of any content. */
        public Builder jsonObject() {
            this.grammar = JsonSchemaGrammar.anyObject();
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

        /**
         * A seed in the engine's range other than {@link #RANDOM_SEED} ([0, 2^32 - 2]) makes sampling
         * reproducible.
         *
         * @throws IllegalArgumentException for other values, at once
         */
        public Builder seed(long seed) {
            SettingTable.GENERATION.get("seed").check("seed", seed);
            if (seed == RANDOM_SEED) {
                throw new IllegalArgumentException("seed " + RANDOM_SEED + " is RANDOM_SEED, not a seed: use"
                        + " randomSeed() for a random seed");
            }
            this.seed = seed;
            return this;
        }

        public Builder randomSeed() {
            this.seed = RANDOM_SEED;
            return this;
        }

        /** @throws IllegalArgumentException when a value is out of the engine's range, naming the option */
        public GenerationOptions build() {
            SettingTable t = SettingTable.GENERATION;
            t.get("max_tokens").check("maxTokens", maxTokens);
            for (String s : stop) {
                if (s == null || s.isEmpty()) {
                    throw new IllegalArgumentException("stop strings must not be null or empty");
                }
            }
            t.get("temperature").check("temperature", temperature);
            t.get("top_k").check("topK", topK);
            t.get("top_p").check("topP", topP);
            t.get("min_p").check("minP", minP);
            t.get("repeat_penalty").check("repeatPenalty", repeatPenalty);
            t.get("repeat_last_n").check("repeatLastN", repeatLastN);
            return new GenerationOptions(this);
        }
    }
}
