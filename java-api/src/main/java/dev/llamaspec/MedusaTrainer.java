package dev.llamaspec;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CancellationException;

/**
 * Trains Medusa heads for a model on a text corpus by self-distillation: the model reads the corpus,
 * and head k learns to predict, from the model's hidden state at a position, the model's own greedy
 * token k + 2 positions ahead. The heads file it writes is what {@code SD_SPEC_MEDUSA} speculation
 * loads; it records the held-out accuracy per head and rank. Immutable and thread-safe; build one
 * with {@link #builder(Path)}.
 *
 * <pre>{@code
 * MedusaTrainer trainer = MedusaTrainer.builder(Path.of("tinystories.txt"))
 *         .maxDuration(Duration.ofMinutes(3)).build();
 * MedusaTrainingReport report = trainer.train(model, Path.of("heads.gguf"),
 *         p -> System.out.println(p.phase() + " " + p.done() + "/" + p.total()));
 * }</pre>
 *
 * <p>Cancelling: interrupt the thread that runs {@link #train} (for example with
 * {@code Future.cancel(true)}), or throw from the listener. Training stops at the next progress point
 * (within one optimizer step or one document) and no file is written.
 */
public final class MedusaTrainer {
    private final Path corpus;
    private final int heads;
    private final int layers;
    private final int steps;
    private final Duration maxDuration;
    private final int batchSize;
    private final float learningRate;
    private final float warmup;
    private final float weightDecay;
    private final int contextSize;
    private final long maxTokens;
    private final float holdout;
    private final int maxEvalExamples;
    private final boolean selfGenerated;
    private final boolean regressive;
    private final boolean feature;
    private final int attention;
    private final int threads;
    private final long seed;

    private MedusaTrainer(Builder b) {
        corpus = b.corpus;
        heads = b.heads;
        layers = b.layers;
        steps = b.steps;
        maxDuration = b.maxDuration;
        batchSize = b.batchSize;
        learningRate = b.learningRate;
        warmup = b.warmup;
        weightDecay = b.weightDecay;
        contextSize = b.contextSize;
        maxTokens = b.maxTokens;
        holdout = b.holdout;
        maxEvalExamples = b.maxEvalExamples;
        selfGenerated = b.selfGenerated;
        regressive = b.regressive;
        feature = b.feature;
        attention = b.attention;
        threads = b.threads;
        seed = b.seed;
    }

    /** A builder for training on a UTF-8 text file; {@code <|endoftext|>} separates its documents. */
    public static Builder builder(Path corpus) {
        return new Builder(corpus);
    }

    public Path corpus() { return corpus; }
    public int heads() { return heads; }
    public int layers() { return layers; }
    public int steps() { return steps; }
    /** The time budget of a run; {@link Duration#ZERO} when there is none. */
    public Duration maxDuration() { return maxDuration; }
    public int batchSize() { return batchSize; }
    public float learningRate() { return learningRate; }
    public float warmup() { return warmup; }
    public float weightDecay() { return weightDecay; }
    public int contextSize() { return contextSize; }
    public long maxTokens() { return maxTokens; }
    public float holdout() { return holdout; }
    public int maxEvalExamples() { return maxEvalExamples; }
    public boolean selfGenerated() { return selfGenerated; }
    public boolean regressive() { return regressive; }
    public boolean feature() { return feature; }
    /** The feature drafter's attention window; 0 = none. */
    public int attention() { return attention; }
    public int threads() { return threads; }
    public long seed() { return seed; }

    /** Trains without reporting progress; see {@link #train(LlamaModel, Path, MedusaTrainingListener)}. */
    public MedusaTrainingReport train(LlamaModel model, Path output) {
        return train(model, output, MedusaTrainingListener.none());
    }

    /**
     * Trains heads for {@code model} and writes them to {@code output} (atomically: a file appears only
     * when the run completes). Blocks until done; the model stays usable by other threads meanwhile.
     *
     * @throws CancellationException when the calling thread was interrupted (its interrupt status stays
     *     set); nothing is written
     * @throws LlamaException with {@link ErrorCode#INVALID_ARGUMENT} when the corpus cannot be read or
     *     is too short, or the output cannot be written; other codes for failures of the model
     * @throws IllegalStateException when the model is closed
     */
    public MedusaTrainingReport train(LlamaModel model, Path output, MedusaTrainingListener listener) {
        NamedValues settings = settings();
        byte[] corpusPath = TrainingProgressBridge.pathBytes(corpus);
        return TrainingProgressBridge.run(model, output, listener, "Medusa training",
                (m, out, bridge) -> nTrain(m, corpusPath, out, settings.names(), settings.values(), bridge));
    }

    /** The options by the engine's names ({@code sd_train_settings}), as a run passes them. */
    NamedValues settings() {
        return new NamedValues().put("heads", heads).put("layers", layers).put("steps", steps)
                .put("max_minutes", minutes(maxDuration)).put("batch", batchSize).put("lr", learningRate)
                .put("warmup", warmup).put("weight_decay", weightDecay).put("ctx", contextSize)
                .put("max_tokens", maxTokens).put("holdout", holdout).put("max_eval", maxEvalExamples)
                .put("self_generated", selfGenerated).put("regressive", regressive).put("feature", feature)
                .put("attention", attention).put("threads", threads)
                .put("seed", seed);
    }

    private static double minutes(Duration d) {
        return d.toMillis() / 60000.0;
    }

    @Override
    public String toString() {
        return "MedusaTrainer{corpus=" + corpus + ", heads=" + heads + ", layers=" + layers + ", steps=" + steps
                + ", maxDuration=" + maxDuration + ", batchSize=" + batchSize + ", learningRate=" + learningRate
                + ", selfGenerated=" + selfGenerated + ", regressive=" + regressive + ", feature=" + feature + ", attention=" + attention + "}";
    }

    /**
     * Trains with the named settings of the engine's training table (the others keep their defaults) and
     * returns the report, or null when the run was cancelled.
     */
    static native MedusaTrainingReport nTrain(long model, byte[] corpus, byte[] output, String[] names,
            double[] values, Object bridge);

    /**
     * Options of a {@link MedusaTrainer}, starting from the engine's defaults ({@code sd_train_settings});
     * {@link #build()} checks them against the engine's ranges. The ranges and defaults quoted below are
     * the engine's as of this writing.
     */
    public static final class Builder {
        private final Path corpus;
        private int heads;
        private int layers;
        private int steps;
        private Duration maxDuration;
        private int batchSize;
        private float learningRate;
        private float warmup;
        private float weightDecay;
        private int contextSize;
        private long maxTokens;
        private float holdout;
        private int maxEvalExamples;
        private boolean selfGenerated;
        private boolean regressive;
        private boolean feature;
        private int attention;
        private int threads;
        private long seed;

        private Builder(Path corpus) {
            this.corpus = Objects.requireNonNull(corpus, "corpus");
            SettingTable t = SettingTable.TRAIN;
            heads = t.get("heads").intDefault();
            layers = t.get("layers").intDefault();
            steps = t.get("steps").intDefault();
            maxDuration = Duration.ofMillis(Math.round(t.get("max_minutes").defaultValue() * 60000));
            batchSize = t.get("batch").intDefault();
            learningRate = t.get("lr").floatDefault();
            warmup = t.get("warmup").floatDefault();
            weightDecay = t.get("weight_decay").floatDefault();
            contextSize = t.get("ctx").intDefault();
            maxTokens = t.get("max_tokens").longDefault();
            holdout = t.get("holdout").floatDefault();
            maxEvalExamples = t.get("max_eval").intDefault();
            selfGenerated = t.get("self_generated").boolDefault();
            regressive = t.get("regressive").boolDefault();
            feature = t.get("feature").boolDefault();
            attention = t.get("attention").intDefault();
            threads = t.get("threads").intDefault();
            seed = t.get("seed").longDefault();
        }

        /** Heads, in [1, 16]; head k predicts the token k + 2 positions ahead. Default 4. */
        public Builder heads(int heads) { this.heads = heads; return this; }

        /** Residual blocks per head, in [0, 8]. Default 1. */
        public Builder layers(int layers) { this.layers = layers; return this; }

        /** Optimizer steps, in [1, 10,000,000]. Default 2,000. */
        public Builder steps(int steps) { this.steps = steps; return this; }

        /**
         * Time budget of the whole run, at most 100,000 minutes; {@link Duration#ZERO} (the default)
         * for none. Reading stops at 40% of it and the step schedule is shortened to fit.
         */
        public Builder maxDuration(Duration maxDuration) { this.maxDuration = Objects.requireNonNull(maxDuration, "maxDuration"); return this; }

        /** Examples per step, in [1, 65536]. Default 256. */
        public Builder batchSize(int batchSize) { this.batchSize = batchSize; return this; }

        /** Peak AdamW learning rate, in (0, 1]. Default 0.002. */
        public Builder learningRate(float learningRate) { this.learningRate = learningRate; return this; }

        /** Share of the steps with a linear warm-up (then cosine decay to a tenth), in [0, 0.5]. Default 0.05. */
        public Builder warmup(float warmup) { this.warmup = warmup; return this; }

        /** AdamW's weight decay, in [0, 1). Default 0. */
        public Builder weightDecay(float weightDecay) { this.weightDecay = weightDecay; return this; }

        /** Tokens per sequence the model reads, 0 (the model's training context, at most 512) or in [32, 65536]. */
        public Builder contextSize(int contextSize) { this.contextSize = contextSize; return this; }

        /** Corpus positions read at most, in [1,000, 1,000,000,000]. Default 300,000. */
        public Builder maxTokens(long maxTokens) { this.maxTokens = maxTokens; return this; }

        /** Share of the documents held out for the accuracy figures, in [0.01, 0.5]. Default 0.1. */
        public Builder holdout(float holdout) { this.holdout = holdout; return this; }

        /** Held-out examples evaluated at most, in [100, 10,000,000]. Default 20,000. */
        public Builder maxEvalExamples(int maxEvalExamples) { this.maxEvalExamples = maxEvalExamples; return this; }

        /** Also train on the model's greedy continuations of corpus openings. Default false. */
        public Builder selfGenerated(boolean selfGenerated) { this.selfGenerated = selfGenerated; return this; }

        /**
         * Train regressive (Clover-style) heads: head k also reads the tokens before the one it predicts
         * (the current token and the previous heads' proposals, each through a token table of its own).
         * The file is larger by one {@code vocabulary x hidden size} table per head, and drafts become a
         * chain of the heads' best tokens with the runners-up beside it. Default false.
         */
        public Builder regressive(boolean regressive) { this.regressive = regressive; return this; }

        /**
         * Train a feature drafter (EAGLE-style) instead of heads: one network that predicts the model's
         * next hidden state from the previous one and the token after it, applied once per draft depth
         * ({@link #heads} depths), trained unrolled over those depths on the cross-entropy of each depth
         * plus the distance of each predicted hidden state to the model's own. Its file holds one set of
         * weights whatever the depth. Default false.
         */
        public Builder feature(boolean feature) { this.feature = feature; return this; }

        /**
         * The feature drafter's attention window, in [0, 64]: with {@code window > 0} each depth also
         * attends (one head) to the model's own hidden states at the last {@code window} positions of the
         * text, with the tokens after them, through four more {@code hidden x hidden} projections.
         * Needs {@link #feature}. Default 0 (none).
         */
        public Builder attention(int window) { this.attention = window; return this; }

        /** CPU threads, in [0, 512]; 0 = the model's default. */
        public Builder threads(int threads) { this.threads = threads; return this; }

        /** Seed of the batch order, in [0, 2^32 - 1]. Default 42. */
        public Builder seed(long seed) { this.seed = seed; return this; }

        /** @throws IllegalArgumentException naming the first option out of the engine's range */
        public MedusaTrainer build() {
            SettingTable t = SettingTable.TRAIN;
            t.get("heads").check("heads", heads);
            t.get("layers").check("layers", layers);
            t.get("steps").check("steps", steps);
            t.get("batch").check("batchSize", batchSize);
            t.get("lr").check("learningRate", learningRate);
            t.get("warmup").check("warmup", warmup);
            t.get("weight_decay").check("weightDecay", weightDecay);
            t.get("ctx").check("contextSize (0 = the model's)", contextSize);
            t.get("max_tokens").check("maxTokens", maxTokens);
            t.get("holdout").check("holdout", holdout);
            t.get("max_eval").check("maxEvalExamples", maxEvalExamples);
            t.get("attention").check("attention", attention);
            if (attention > 0 && !feature) {
                throw new IllegalArgumentException("attention (" + attention + ") is for a feature drafter: set feature(true) too");
            }
            t.get("threads").check("threads", threads);
            t.get("seed").check("seed", seed);
            t.get("max_minutes").check("maxDuration (minutes)", minutes(maxDuration));
            return new MedusaTrainer(this);
        }
    }
}
