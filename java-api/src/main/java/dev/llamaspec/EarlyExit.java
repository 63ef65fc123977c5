package dev.llamaspec;

import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.CancellationException;

/**
 * Makes a self-speculative drafter of a model by early exit (Kangaroo-style): a GGUF model of the same
 * architecture holding the model's token embedding, its first {@link #layers} blocks, an adapter block
 * (the model's last block) and the model's output norm and head. No second model is needed: it drafts
 * for the model it came from through {@link Speculation#draftModel}. With a {@link Builder#corpus
 * corpus}, the adapter is first trained so that the drafter's top token agrees with the model's
 * greedy token: its FFN and FFN norm, or with {@link Builder#attention attention(true)} the whole block,
 * attention included, as Kangaroo's adapter is (llama models); the best weights by held-out agreement
 * are written, never worse than the copied block. Immutable and thread-safe; build one with {@link #builder(int)}.
 *
 * <pre>{@code
 * EarlyExit exit = EarlyExit.builder(2).corpus(Path.of("docs.txt")).build();
 * EarlyExitReport report = exit.make(model, Path.of("model-exit2.gguf"),
 *         p -> System.out.println(p.phase() + " " + p.done() + "/" + p.total()));
 * try (LlamaModel drafter = LlamaModel.load(Path.of("model-exit2.gguf"))) {
 *     Speculation s = Speculation.draftModel(drafter);
 *     ...
 * }
 * }</pre>
 *
 * <p>Costs: the file repeats the embedding, the head and {@code layers + 1} blocks of the model (a
 * drafter of 2 of 32 blocks is a little over 3/32 of the blocks' bytes plus the embedding and head),
 * and the drafter keeps a KV cache of its own, so it evaluates its blocks for every token of the text.
 * The file cannot share the model's tensors through llama.cpp's API.
 *
 * <p>Progress is reported with the phases of {@link MedusaTrainingProgress}: {@code READING} (corpus
 * positions read), {@code EVALUATING} (held-out checks) and {@code TRAINING} (steps, with the loss).
 * Cancelling: interrupt the thread that runs {@link #make} (for example with {@code Future.cancel(true)}),
 * or throw from the listener. The run stops at the next progress point and no file is written.
 */
public final class EarlyExit {
    private final int layers;
    private final Path corpus;
    private final boolean attention;
    private final int steps;
    private final int batchSize;
    private final float learningRate;
    private final long maxTokens;
    private final float holdout;
    private final int threads;
    private final long seed;

    private EarlyExit(Builder b) {
        layers = b.layers;
        corpus = b.corpus;
        attention = b.attention;
        steps = b.steps;
        batchSize = b.batchSize;
        learningRate = b.learningRate;
        maxTokens = b.maxTokens;
        holdout = b.holdout;
        threads = b.threads;
        seed = b.seed;
    }

    /** A builder for a drafter of the model's first {@code layers} blocks (checked by {@link Builder#build}). */
    public static Builder builder(int layers) {
        return new Builder(layers);
    }

    public int layers() { return layers; }
    /** The corpus the adapter trains on; empty when the adapter is the model's last block as it is. */
    public Optional<Path> corpus() { return Optional.ofNullable(corpus); }
    /** Whether training takes in the adapter's attention (the whole block) or only its FFN. */
    public boolean attention() { return attention; }
    public int steps() { return steps; }
    public int batchSize() { return batchSize; }
    public float learningRate() { return learningRate; }
    public long maxTokens() { return maxTokens; }
    public float holdout() { return holdout; }
    public int threads() { return threads; }
    public long seed() { return seed; }

    /** Makes the drafter without reporting progress; see {@link #make(LlamaModel, Path, MedusaTrainingListener)}. */
    public EarlyExitReport make(LlamaModel model, Path output) {
        return make(model, output, MedusaTrainingListener.none());
    }

    /**
     * Makes the drafter of {@code model} and writes it to {@code output} (atomically: a file appears
     * only when the run completes). Blocks until done; the model stays usable by other threads meanwhile.
     *
     * @throws CancellationException when the calling thread was interrupted (its interrupt status stays
     *     set); nothing is written
     * @throws LlamaException with {@link ErrorCode#INVALID_ARGUMENT} when {@link #layers} is not below
     *     the model's block count, the model's blocks are not llama-style, the corpus cannot be read or is
     *     too short, or the output cannot be written; other codes for failures of the model
     * @throws IllegalStateException when the model is closed
     */
    public EarlyExitReport make(LlamaModel model, Path output, MedusaTrainingListener listener) {
        NamedValues settings = settings();
        byte[] corpusPath = corpus == null ? null : TrainingProgressBridge.pathBytes(corpus);
        double[] numbers = TrainingProgressBridge.run(model, output, listener, "making the early-exit drafter",
                (m, out, bridge) -> nMake(m, corpusPath, out, settings.names(), settings.values(), bridge));
        return EarlyExitReport.fromNative(layers, numbers);
    }

    /** The options by the engine's names ({@code sd_early_exit_settings}), as a run passes them. */
    NamedValues settings() {
        return new NamedValues().put("layers", layers).put("attention", attention).put("steps", steps).put("batch", batchSize)
                .put("lr", learningRate).put("max_tokens", maxTokens).put("holdout", holdout).put("threads", threads)
                .put("seed", seed);
    }

    @Override
    public String toString() {
        return "EarlyExit{layers=" + layers + ", corpus=" + corpus + ", attention=" + attention + ", steps=" + steps + ", batchSize=" + batchSize
                + ", learningRate=" + learningRate + ", maxTokens=" + maxTokens + "}";
    }

    /**
     * Makes the drafter with the named settings of the engine's early-exit table (the others keep their
     * defaults), trained on {@code corpus} unless it is null; returns the report's numbers, or null when
     * the run was cancelled.
     */
    static native double[] nMake(long model, byte[] corpus, byte[] output, String[] names, double[] values, Object bridge);

    /**
     * Options of an {@link EarlyExit}, starting from the engine's defaults ({@code sd_early_exit_settings});
     * {@link #build()} checks them against the engine's ranges. The ranges and defaults quoted below are
     * the engine's as of this writing.
     */
    public static final class Builder {
        private final int layers;
        private Path corpus;
        private boolean attention;
        private int steps;
        private int batchSize;
        private float learningRate;
        private long maxTokens;
        private float holdout;
        private int threads;
        private long seed;

        private Builder(int layers) {
            this.layers = layers;
            SettingTable t = SettingTable.EARLY_EXIT;
            attention = t.get("attention").boolDefault();
            steps = t.get("steps").intDefault();
            batchSize = t.get("batch").intDefault();
            learningRate = t.get("lr").floatDefault();
            maxTokens = t.get("max_tokens").longDefault();
            holdout = t.get("holdout").floatDefault();
            threads = t.get("threads").intDefault();
            seed = t.get("seed").longDefault();
        }

        /**
         * Train the adapter on this UTF-8 text file ({@code <|endoftext|>} separates its documents; a
         * share of them is held out); null for none (the default): the adapter is the model's last block.
         */
        public Builder corpus(Path corpus) { this.corpus = corpus; return this; }

        /**
         * Train the adapter's attention too, the whole block as in Kangaroo (the model must be a llama
         * model, else {@link EarlyExit#make} refuses), or only its FFN and FFN norm (false, the default,
         * which agreed better with the model on the widened test model; see docs/benchmarks.md). With
         * attention a step is one sequence of {@link #batchSize} positions made of whole documents, read
         * in pieces of at most that many tokens (up to 256), and the attention's weights move at a tenth
         * of the learning rate.
         */
        public Builder attention(boolean attention) { this.attention = attention; return this; }

        /** Optimizer steps, in [1, 10,000,000]. Default 400. */
        public Builder steps(int steps) { this.steps = steps; return this; }

        /** Positions per step, in [1, 65536]. Default 128; the corpus must give a batch of each kind. */
        public Builder batchSize(int batchSize) { this.batchSize = batchSize; return this; }

        /** AdamW's learning rate (constant), in (0, 1]. Default 0.001. */
        public Builder learningRate(float learningRate) { this.learningRate = learningRate; return this; }

        /** Corpus positions read at most, in [1, 1,000,000,000]. Default 30,000. */
        public Builder maxTokens(long maxTokens) { this.maxTokens = maxTokens; return this; }

        /** Share of the documents held out for the agreement figures, in [0.01, 0.5]. Default 0.1. */
        public Builder holdout(float holdout) { this.holdout = holdout; return this; }

        /** CPU threads, in [0, 512]; 0 = the model's default. */
        public Builder threads(int threads) { this.threads = threads; return this; }

        /** Seed of the batch order, in [0, 2^32 - 1]. Default 42. */
        public Builder seed(long seed) { this.seed = seed; return this; }

        /**
         * @throws IllegalArgumentException naming the first option out of the engine's range (the layer
         *     count's upper bound is the model's, checked by {@link EarlyExit#make})
         */
        public EarlyExit build() {
            SettingTable t = SettingTable.EARLY_EXIT;
            t.get("layers").check("layers", layers);
            t.get("steps").check("steps", steps);
            t.get("batch").check("batchSize", batchSize);
            t.get("lr").check("learningRate", learningRate);
            t.get("max_tokens").check("maxTokens", maxTokens);
            t.get("holdout").check("holdout", holdout);
            t.get("threads").check("threads", threads);
            t.get("seed").check("seed", seed);
            return new EarlyExit(this);
        }
    }
}
