package dev.llamaspec;

import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;

/**
 * How a generation speculates: which drafter proposes tokens, and how many the engine may evaluate
 * per step. Immutable values, one class per strategy (nested here, so that the whole vocabulary reads
 * {@code Speculation.Medusa}, {@code Speculation.Lookahead}, ...): the settings every strategy has
 * ({@link #maxDraftTokens()}, {@link #maxDepth()}, {@link #budget()}, the LOSSY typical acceptance) live
 * in this base class, whose {@code with...} methods each subclass returns as its own type, so that
 * {@code Speculation.medusa(heads).withBudget(false).withCandidatesPerHead(3)} chains. Speculation never
 * changes the output: greedy decoding gives plain decoding's tokens and sampling follows the model's
 * distribution exactly (unless the lossy typical acceptance is chosen); it only changes the speed.
 *
 * <p>Defaults and ranges are the engine's ({@code sd_generation_settings}, the "spec." settings): the
 * factories without arguments use its defaults, and out-of-range values throw
 * {@link IllegalArgumentException} naming the Java parameter and the engine's range.
 *
 * <p>With the hardware-aware budget (the default) each step evaluates only the draft tokens whose
 * learnt chance of acceptance pays for their cost on this device, measured once per session: on a
 * CPU, where every extra token costs, that can be none; on a GPU, where extra tokens are nearly free,
 * it is a wide tree. {@link #withBudget(boolean) withBudget(false)} evaluates every proposed token up to
 * {@link #maxDraftTokens()}.
 */
public abstract sealed class Speculation permits Speculation.Typed {

    /** The drafters, in the order of the engine's {@code sd_spec_type}. */
    public enum Kind {
        /** Plain decoding. */
        NONE("none"),
        /** Prompt lookup: continuations of earlier occurrences of the last n tokens. */
        PROMPT_LOOKUP("lookup"),
        /** Token Recycling: the model's own earlier top-k predictions after each token. */
        TOKEN_RECYCLING("recycling"),
        /**
         * Prompt lookup, Token Recycling and lookahead's window together, each node and the window
         * chosen by the budget.
         */
        AUTO("auto"),
        /** Lookahead decoding: a Jacobi window of guesses feeding a pool of n-grams. */
        LOOKAHEAD("lookahead"),
        /** A second, smaller model with the same vocabulary drafts chains of tokens. */
        DRAFT_MODEL("draft"),
        /** Medusa heads: trained heads predict the next tokens from the model's hidden state. */
        MEDUSA("medusa");

        private final String canonicalName;

        Kind(String canonicalName) {
            this.canonicalName = canonicalName;
        }

        /**
         * The strategy's canonical name: the engine's ({@code sd_spec_type_name}), as {@link #parse} reads
         * it ("none", "lookup", "recycling", "auto", "lookahead", "draft", "medusa").
         */
        public String canonicalName() {
            return canonicalName;
        }

        /**
         * The strategy a name denotes, as {@link Speculation#parse(String, MedusaHeads, LlamaModel)} reads it:
         * case-insensitively, the canonical names and the aliases plain (none), prompt-lookup (lookup),
         * token-recycling (recycling) and draft-model (draft). For callers that need to know the strategy
         * before they have what it needs, e.g. whether to load Medusa heads.
         *
         * @throws IllegalArgumentException for an unknown name, listing the known ones
         */
        public static Kind parse(String name) {
            switch (Objects.requireNonNull(name, "name").toLowerCase(Locale.ROOT)) {
                case "none": case "plain": return NONE;
                case "lookup": case "prompt-lookup": return PROMPT_LOOKUP;
                case "recycling": case "token-recycling": return TOKEN_RECYCLING;
                case "lookahead": return LOOKAHEAD;
                case "auto": return AUTO;
                case "medusa": return MEDUSA;
                case "draft": case "draft-model": return DRAFT_MODEL;
                default: throw new IllegalArgumentException("unknown speculation '" + name + "' (" + NAMES + ")");
            }
        }
    }

    /** What {@link #parse} accepts, for messages. */
    static final String NAMES = "none, lookup, recycling, lookahead, auto, medusa, draft";

    private final Common common;

    private Speculation(Common common) {
        this.common = common;
    }

    // --- factories ---

    /** Plain decoding (the default). */
    public static None none() {
        return None.DEFAULT.get();
    }

    /** Prompt lookup with the engine's defaults (n-grams of 1 to 4 tokens, up to 4 branches). */
    public static PromptLookup promptLookup() {
        SettingTable t = SettingTable.GENERATION;
        return promptLookup(t.get("spec.lookup.min_ngram").intDefault(), t.get("spec.lookup.max_ngram").intDefault(),
                t.get("spec.lookup.max_branches").intDefault());
    }

    /**
     * Prompt lookup: the last n tokens (n from maxNgram down to minNgram) are looked up earlier in
     * the prompt and the generated text, and what followed them is proposed; up to maxBranches
     * different continuations become sibling branches.
     *
     * @throws IllegalArgumentException when a value is out of the engine's range or maxNgram is below minNgram
     */
    public static PromptLookup promptLookup(int minNgram, int maxNgram, int maxBranches) {
        return new PromptLookup(Common.defaults(), minNgram, maxNgram, maxBranches);
    }

    /** Token Recycling with the engine's default k (8 successors per token). */
    public static TokenRecycling tokenRecycling() {
        return tokenRecycling(SettingTable.GENERATION.get("spec.recycling.k").intDefault());
    }

    /**
     * Token Recycling (Luo et al. 2024): for each token the session remembers the k tokens the model
     * ranked highest after it in earlier steps, and proposes a tree from them. What it learnt stays
     * with the session across generations.
     */
    public static TokenRecycling tokenRecycling(int k) {
        return new TokenRecycling(Common.defaults(), k);
    }

    /** Lookahead decoding with the engine's defaults (a window of 8 columns, 4-grams, 8 candidates per step). */
    public static Lookahead lookahead() {
        SettingTable t = SettingTable.GENERATION;
        return lookahead(t.get("spec.lookahead.w").intDefault(), t.get("spec.lookahead.n").intDefault(),
                t.get("spec.lookahead.g").intDefault());
    }

    /**
     * Lookahead decoding (Fu et al. 2024): each step evaluates, beside the drafts, a Jacobi window of
     * w columns by (n - 1) levels of guesses; every column's trajectory leaves an n-gram in a pool,
     * and up to g pooled n-grams that start with the current token are the next step's drafts.
     *
     * <p>With the budget (the default) each step evaluates only as many columns as their learnt value
     * pays for on this device: on a CPU, where every extra token costs, usually none (and then this is
     * plain decoding); on a GPU the whole window. {@code withBudget(false)} always evaluates the whole
     * window, as the paper does.
     *
     * @param w window width (the engine's {@code spec.lookahead.w}: 1 to 32)
     * @param n n-gram size ({@code spec.lookahead.n}: 2 to 16)
     * @param g n-grams verified per step ({@code spec.lookahead.g}: 1 to 32)
     */
    public static Lookahead lookahead(int w, int n, int g) {
        return new Lookahead(Common.defaults(), w, n, g);
    }

    /**
     * Every training-free drafter at once (prompt lookup, Token Recycling, lookahead's window, each with
     * the engine's defaults); the budget keeps whichever nodes, and whichever part of the window, pay off
     * on this device.
     */
    public static Auto auto() {
        return new Auto(Common.defaults());
    }

    /**
     * Medusa decoding (Cai et al. 2024) with heads loaded for the session's model: head k predicts
     * the token k + 1 after the current one from the model's last hidden state, and the step's tree is
     * grown from the heads' top candidates, best-first by their probabilities (the dynamic tree; see
     * {@link Medusa#withStaticTree(boolean)}), cut to the hardware budget. Acceptance is exact unless
     * {@link #withLossyTypicalAcceptance(float, float)} is chosen. The heads must stay open until the
     * generation begins; the session keeps them afterwards.
     */
    public static Medusa medusa(MedusaHeads heads) {
        Objects.requireNonNull(heads, "heads");
        SettingTable t = SettingTable.GENERATION;
        return new Medusa(Common.defaults(), heads, t.get("spec.medusa.static_tree").boolDefault(),
                t.get("spec.medusa.top_k").intDefault());
    }

    /** A draft model with the engine's default thresholds ({@code spec.draft.p_min}, {@code spec.draft.p_branch}). */
    public static DraftModel draftModel(LlamaModel draft) {
        SettingTable t = SettingTable.GENERATION;
        return draftModel(draft, t.get("spec.draft.p_min").floatDefault(), t.get("spec.draft.p_branch").floatDefault());
    }

    /**
     * Draft-model speculation: {@code draft}, a smaller model with this model's vocabulary, proposes a
     * chain of tokens each step (one evaluation of the draft model per token) in a context of its own
     * that the session keeps. With the budget (the default) the chain grows while a longer one pays on
     * this device, judged by how often the draft model's tokens were accepted so far, up to
     * {@link #maxDepth()}, and greedy drafts offer the runner-up beside each token for the budget to keep
     * where it pays. Without the budget the chain stops where the draft model's top token is less likely
     * than {@code minProbability}, and greedy drafts offer the runner-up where the top token is less
     * likely than {@code branchProbability}. Sampling: the tokens are drawn from the draft model's
     * distribution and accepted by rejection sampling against it, so the output follows the target
     * model's distribution exactly (but, unlike the other strategies, not token for token what plain
     * sampling draws with the same seed).
     *
     * <p>The draft model must share the target's vocabulary ({@link LlamaModel#checkDraftModel}; checked
     * when a generation begins, {@link LlamaException} with {@link ErrorCode#INVALID_ARGUMENT} naming the
     * difference) and stay open while used: closing it ends a generation using it at its next step with a
     * {@link LlamaException} ({@link ErrorCode#STATE}). The model itself may be its own draft model.
     *
     * @param draft             an open model
     * @param minProbability    in [0, 1], used without the budget; 0 = chains of {@link #maxDepth()} tokens
     * @param branchProbability in [0, 1], used without the budget; 0 = no branches
     * @throws IllegalArgumentException when draft is closed or a probability is out of range
     */
    public static DraftModel draftModel(LlamaModel draft, float minProbability, float branchProbability) {
        Objects.requireNonNull(draft, "draft");
        if (draft.isClosed()) {
            throw new IllegalArgumentException("the draft model is closed: " + draft.path());
        }
        return new DraftModel(Common.defaults(), draft, minProbability, branchProbability);
    }

    /**
     * Parses a strategy name as used on command lines and in configuration, case-insensitively: none
     * (plain), lookup (prompt-lookup), recycling (token-recycling), lookahead, auto, medusa and draft
     * (draft-model), each with its defaults ({@link Kind#parse} reads the name). Medusa takes {@code heads}
     * and draft {@code draftModel}; they are not used otherwise and may be null.
     *
     * @throws IllegalArgumentException for an unknown name, for medusa without heads and for draft without
     *     a draft model
     */
    public static Speculation parse(String name, MedusaHeads heads, LlamaModel draftModel) {
        switch (Kind.parse(name)) {
            case NONE: return none();
            case PROMPT_LOOKUP: return promptLookup();
            case TOKEN_RECYCLING: return tokenRecycling();
            case LOOKAHEAD: return lookahead();
            case AUTO: return auto();
            case MEDUSA:
                if (heads == null) {
                    throw new IllegalArgumentException("speculation '" + name
                            + "' needs Medusa heads: use Speculation.medusa(heads)");
                }
                return medusa(heads);
            case DRAFT_MODEL:
                if (draftModel == null) {
                    throw new IllegalArgumentException("speculation '" + name
                            + "' needs a draft model: use Speculation.draftModel(model)");
                }
                return draftModel(draftModel);
            default: throw new AssertionError(name);
        }
    }

    /** {@link #parse(String, MedusaHeads, LlamaModel)} without heads or a draft model. */
    public static Speculation parse(String name) {
        return parse(name, null, null);
    }

    // --- what every strategy has ---

    public abstract Kind kind();

    /** The canonical name of {@link #kind()}: the engine's, as {@link #parse} reads it ("lookahead", ...). */
    public final String name() {
        return kind().canonicalName();
    }

    /** Most draft tokens evaluated per step (the engine's {@code spec.max_nodes}). */
    public final int maxDraftTokens() {
        return common.maxDraftTokens;
    }

    /** Most draft tokens accepted per step ({@code spec.max_depth}). */
    public final int maxDepth() {
        return common.maxDepth;
    }

    /** Whether the hardware-aware budget sizes each step ({@code spec.adaptive}). */
    public final boolean budget() {
        return common.budget;
    }

    /** Whether the lossy typical acceptance is on (see {@link #withLossyTypicalAcceptance}). */
    public final boolean typicalAcceptance() {
        return common.typicalAcceptance;
    }

    public final float typicalThreshold() {
        return common.typicalThreshold;
    }

    public final float typicalAlpha() {
        return common.typicalAlpha;
    }

    /** The same strategy with at most this many draft tokens per step (1 to 64). */
    public abstract Speculation withMaxDraftTokens(int maxDraftTokens);

    /** The same strategy accepting at most this many draft tokens per step (1 to 32). */
    public abstract Speculation withMaxDepth(int maxDepth);

    /** The same strategy with the hardware-aware budget on (default) or off. */
    public abstract Speculation withBudget(boolean budget);

    /**
     * LOSSY: Medusa's typical acceptance instead of exact acceptance. Under sampling, the draft token
     * the model finds likeliest is accepted when its probability p exceeds
     * {@code min(threshold, alpha * exp(-entropy))} of the model's distribution; more drafts are
     * accepted, but the output no longer follows the model's distribution exactly. Greedy decoding
     * is not affected. Medusa's values, threshold 0.09 and alpha 0.3, are the engine's defaults
     * ({@link #withLossyTypicalAcceptance()}).
     *
     * @param threshold in (0, 1]
     * @param alpha in [0, 1]
     */
    public abstract Speculation withLossyTypicalAcceptance(float threshold, float alpha);

    /** LOSSY typical acceptance with the engine's threshold and alpha (Medusa's: 0.09 and 0.3). */
    public abstract Speculation withLossyTypicalAcceptance();

    /** Exact acceptance (the default): the output follows the model's distribution exactly. */
    public abstract Speculation withExactAcceptance();

    /**
     * The common {@code with...} methods, once for every strategy, each returning the strategy's own
     * type, so that {@code Speculation.medusa(heads).withBudget(false).withCandidatesPerHead(3)} chains.
     *
     * @param <S> the strategy
     */
    abstract static sealed class Typed<S extends Typed<S>> extends Speculation permits None, PromptLookup,
            TokenRecycling, Lookahead, Auto, Medusa, DraftModel {
        private Typed(Common common) {
            super(common);
        }

        @Override
        public final S withMaxDraftTokens(int maxDraftTokens) {
            Common c = common();
            return with(new Common(maxDraftTokens, c.maxDepth, c.budget, c.typicalAcceptance, c.typicalThreshold,
                    c.typicalAlpha));
        }

        @Override
        public final S withMaxDepth(int maxDepth) {
            Common c = common();
            return with(new Common(c.maxDraftTokens, maxDepth, c.budget, c.typicalAcceptance, c.typicalThreshold,
                    c.typicalAlpha));
        }

        @Override
        public final S withBudget(boolean budget) {
            Common c = common();
            return with(new Common(c.maxDraftTokens, c.maxDepth, budget, c.typicalAcceptance, c.typicalThreshold,
                    c.typicalAlpha));
        }

        @Override
        public final S withLossyTypicalAcceptance(float threshold, float alpha) {
            Common c = common();
            return with(new Common(c.maxDraftTokens, c.maxDepth, c.budget, true, threshold, alpha));
        }

        @Override
        public final S withLossyTypicalAcceptance() {
            SettingTable t = SettingTable.GENERATION;
            return withLossyTypicalAcceptance(t.get("spec.typical.threshold").floatDefault(),
                    t.get("spec.typical.alpha").floatDefault());
        }

        @Override
        public final S withExactAcceptance() {
            Common c = common();
            return with(new Common(c.maxDraftTokens, c.maxDepth, c.budget, false, c.typicalThreshold,
                    c.typicalAlpha));
        }

        /** This strategy with other common settings. */
        abstract S with(Common common);
    }

    // --- how it crosses JNI ---

    /**
     * The settings by the engine's names ("spec.max_nodes", "spec.lookahead.w", ...) as a generation passes
     * them; the others keep the engine's defaults. The type crosses as {@link #name()}, the heads and the
     * draft model as handles.
     */
    final void settings(NamedValues out) {
        out.put("spec.max_nodes", common.maxDraftTokens).put("spec.max_depth", common.maxDepth)
                .put("spec.adaptive", common.budget).put("spec.typical.enabled", common.typicalAcceptance)
                .put("spec.typical.threshold", common.typicalThreshold).put("spec.typical.alpha", common.typicalAlpha);
        ownSettings(out);
    }

    /** The settings of this strategy's own drafter. */
    abstract void ownSettings(NamedValues out);

    // --- values ---

    @Override
    public final boolean equals(Object o) {
        return o instanceof Speculation s && s.kind() == kind() && s.common.equals(common) && s.own().equals(own());
    }

    @Override
    public final int hashCode() {
        return Objects.hash(kind(), common, own());
    }

    /**
     * The strategy's own settings as a value, for equals and hashCode: its settings by name, and (Medusa,
     * a draft model) the same heads or model object (they compare by identity).
     */
    Object own() {
        NamedValues values = new NamedValues();
        ownSettings(values);
        return values;
    }

    /** The common settings, after a strategy's own text: "{maxDraftTokens=..., budget=...}". */
    final String suffix(String own) {
        return "{maxDraftTokens=" + common.maxDraftTokens + ", maxDepth=" + common.maxDepth + ", budget="
                + common.budget + own
                + (common.typicalAcceptance ? ", LOSSY typical acceptance(" + common.typicalThreshold + ", "
                        + common.typicalAlpha + ")" : "")
                + "}";
    }

    /** The settings every strategy has, checked against the engine's ranges. */
    record Common(int maxDraftTokens, int maxDepth, boolean budget, boolean typicalAcceptance,
            float typicalThreshold, float typicalAlpha) {
        private static final Lazy<Common> DEFAULTS = new Lazy<>(() -> {
            SettingTable t = SettingTable.GENERATION;
            return new Common(t.get("spec.max_nodes").intDefault(), t.get("spec.max_depth").intDefault(),
                    t.get("spec.adaptive").boolDefault(), t.get("spec.typical.enabled").boolDefault(),
                    t.get("spec.typical.threshold").floatDefault(), t.get("spec.typical.alpha").floatDefault());
        });

        Common {
            SettingTable t = SettingTable.GENERATION;
            t.get("spec.typical.threshold").check("typical acceptance threshold", typicalThreshold);
            t.get("spec.typical.alpha").check("typical acceptance alpha", typicalAlpha);
            t.get("spec.max_nodes").check("maxDraftTokens", maxDraftTokens);
            t.get("spec.max_depth").check("maxDepth", maxDepth);
        }

        /** The engine's defaults. */
        static Common defaults() {
            return DEFAULTS.get();
        }
    }

    // --- the strategies ---

    /** Plain decoding: {@link #none()}. */
    public static final class None extends Typed<None> {
        /** {@link #none()}, made at its first use (it reads the engine's defaults). */
        private static final Lazy<None> DEFAULT = new Lazy<>(() -> new None(Common.defaults()));

        private None(Common common) {
            super(common);
        }

        @Override
        public Kind kind() {
            return Kind.NONE;
        }

        @Override
        None with(Common common) {
            return new None(common);
        }

        @Override
        void ownSettings(NamedValues out) {
            // plain decoding has no drafter
        }

        @Override
        public String toString() {
            return "Speculation.none()";
        }
    }

    /** Prompt lookup: {@link #promptLookup(int, int, int)}. */
    public static final class PromptLookup extends Typed<PromptLookup> {
        private final int minNgram;
        private final int maxNgram;
        private final int maxBranches;
        private final CorpusIndex corpus;

        private PromptLookup(Common common, int minNgram, int maxNgram, int maxBranches) {
            this(common, minNgram, maxNgram, maxBranches, null);
        }

        private PromptLookup(Common common, int minNgram, int maxNgram, int maxBranches, CorpusIndex corpus) {
            super(common);
            this.corpus = corpus;
            SettingTable t = SettingTable.GENERATION;
            t.get("spec.lookup.min_ngram").check("minNgram", minNgram);
            t.get("spec.lookup.max_ngram").check("maxNgram", maxNgram);
            if (maxNgram < minNgram) {
                throw new IllegalArgumentException("maxNgram (" + maxNgram + ") must be at least minNgram ("
                        + minNgram + ")");
            }
            t.get("spec.lookup.max_branches").check("maxBranches", maxBranches);
            this.minNgram = minNgram;
            this.maxNgram = maxNgram;
            this.maxBranches = maxBranches;
        }

        @Override
        public Kind kind() {
            return Kind.PROMPT_LOOKUP;
        }

        /** The shortest n-gram looked up. */
        public int minNgram() {
            return minNgram;
        }

        /** The longest n-gram looked up. */
        public int maxNgram() {
            return maxNgram;
        }

        /** Most distinct continuations proposed as sibling branches. */
        public int maxBranches() {
            return maxBranches;
        }

        /**
         * This lookup drafting also from a corpus index (REST / Infini-gram style): after the text's own
         * matches, what followed the longest matching suffix of the text in the corpus, the most frequent
         * continuations first (up to {@link #maxBranches()}). The index must be loaded for the session's
         * model; it may be closed once a generation began. Null: the text only.
         */
        public PromptLookup corpus(CorpusIndex corpus) {
            return new PromptLookup(common(), minNgram, maxNgram, maxBranches, corpus);
        }

        /** The corpus index lookup also drafts from, or null. */
        public CorpusIndex corpus() {
            return corpus;
        }

        @Override
        PromptLookup with(Common common) {
            return new PromptLookup(common, minNgram, maxNgram, maxBranches, corpus);
        }

        @Override
        void ownSettings(NamedValues out) {
            out.put("spec.lookup.min_ngram", minNgram).put("spec.lookup.max_ngram", maxNgram)
                    .put("spec.lookup.max_branches", maxBranches);
        }

        @Override
        Object own() {
            // the same index object (by identity), as Medusa's heads
            return java.util.Arrays.asList(super.own(), corpus);
        }

        @Override
        public String toString() {
            return "Speculation.promptLookup(" + minNgram + ", " + maxNgram + ", " + maxBranches + ")"
                    + (corpus == null ? "" : ".corpus(" + corpus.path() + ")") + suffix("");
        }
    }

    /** Token Recycling: {@link #tokenRecycling(int)}. */
    public static final class TokenRecycling extends Typed<TokenRecycling> {
        private final int recyclingK;

        private TokenRecycling(Common common, int recyclingK) {
            super(common);
            SettingTable.GENERATION.get("spec.recycling.k").check("recyclingK", recyclingK);
            this.recyclingK = recyclingK;
        }

        @Override
        public Kind kind() {
            return Kind.TOKEN_RECYCLING;
        }

        /** Successors remembered per token (k). */
        public int recyclingK() {
            return recyclingK;
        }

        @Override
        TokenRecycling with(Common common) {
            return new TokenRecycling(common, recyclingK);
        }

        @Override
        void ownSettings(NamedValues out) {
            out.put("spec.recycling.k", recyclingK);
        }

        @Override
        public String toString() {
            return "Speculation.tokenRecycling(" + recyclingK + ")" + suffix("");
        }
    }

    /** Lookahead decoding: {@link #lookahead(int, int, int)}. */
    public static final class Lookahead extends Typed<Lookahead> {
        private final int windowWidth;
        private final int ngramSize;
        private final int maxCandidates;

        private Lookahead(Common common, int windowWidth, int ngramSize, int maxCandidates) {
            super(common);
            SettingTable t = SettingTable.GENERATION;
            t.get("spec.lookahead.w").check("windowWidth (w)", windowWidth);
            t.get("spec.lookahead.n").check("ngramSize (n)", ngramSize);
            t.get("spec.lookahead.g").check("maxCandidates (g)", maxCandidates);
            this.windowWidth = windowWidth;
            this.ngramSize = ngramSize;
            this.maxCandidates = maxCandidates;
        }

        @Override
        public Kind kind() {
            return Kind.LOOKAHEAD;
        }

        /** The window width w. */
        public int windowWidth() {
            return windowWidth;
        }

        /** The n-gram size n (the window has n - 1 levels). */
        public int ngramSize() {
            return ngramSize;
        }

        /** The candidates verified per step g. */
        public int maxCandidates() {
            return maxCandidates;
        }

        @Override
        Lookahead with(Common common) {
            return new Lookahead(common, windowWidth, ngramSize, maxCandidates);
        }

        @Override
        void ownSettings(NamedValues out) {
            out.put("spec.lookahead.w", windowWidth).put("spec.lookahead.n", ngramSize)
                    .put("spec.lookahead.g", maxCandidates);
        }

        @Override
        public String toString() {
            return "Speculation.lookahead(" + windowWidth + ", " + ngramSize + ", " + maxCandidates + ")" + suffix("");
        }
    }

    /** Every training-free drafter at once: {@link #auto()}. */
    public static final class Auto extends Typed<Auto> {
        private Auto(Common common) {
            super(common);
        }

        @Override
        public Kind kind() {
            return Kind.AUTO;
        }

        @Override
        Auto with(Common common) {
            return new Auto(common);
        }

        @Override
        void ownSettings(NamedValues out) {
            // the drafters run with the engine's defaults
        }

        @Override
        public String toString() {
            return "Speculation.auto()" + suffix("");
        }
    }

    /** Medusa decoding: {@link #medusa(MedusaHeads)}. */
    public static final class Medusa extends Typed<Medusa> {
        private final MedusaHeads heads;
        private final boolean staticTree;
        private final int candidatesPerHead;

        private Medusa(Common common, MedusaHeads heads, boolean staticTree, int candidatesPerHead) {
            super(common);
            SettingTable.GENERATION.get("spec.medusa.top_k").check("candidatesPerHead", candidatesPerHead);
            this.heads = heads;
            this.staticTree = staticTree;
            this.candidatesPerHead = candidatesPerHead;
        }

        @Override
        public Kind kind() {
            return Kind.MEDUSA;
        }

        /** The Medusa heads. */
        public MedusaHeads heads() {
            return heads;
        }

        /** Whether the static tree is used (see {@link #withStaticTree(boolean)}). */
        public boolean staticTree() {
            return staticTree;
        }

        /** Candidates taken from each head. */
        public int candidatesPerHead() {
            return candidatesPerHead;
        }

        /**
         * Medusa's static sparse tree instead of the dynamic one: the tree is grown by each head's measured
         * accuracy per candidate rank (recorded in the heads file by the trainer; a prior otherwise), the
         * same for every step, as Medusa's published trees are.
         */
        public Medusa withStaticTree(boolean staticTree) {
            return new Medusa(common(), heads, staticTree, candidatesPerHead);
        }

        /** Candidates taken from each head (the engine's {@code spec.medusa.top_k}: 1 to 32, default 8). */
        public Medusa withCandidatesPerHead(int candidatesPerHead) {
            return new Medusa(common(), heads, staticTree, candidatesPerHead);
        }

        @Override
        Medusa with(Common common) {
            return new Medusa(common, heads, staticTree, candidatesPerHead);
        }

        @Override
        void ownSettings(NamedValues out) {
            out.put("spec.medusa.static_tree", staticTree).put("spec.medusa.top_k", candidatesPerHead);
        }

        @Override
        Object own() {
            return Arrays.asList(heads, super.own());
        }

        @Override
        public String toString() {
            return "Speculation.medusa(" + heads.path() + ")" + suffix(", tree=" + (staticTree ? "static" : "dynamic")
                    + ", candidatesPerHead=" + candidatesPerHead);
        }
    }

    /** Draft-model speculation: {@link #draftModel(LlamaModel, float, float)}. */
    public static final class DraftModel extends Typed<DraftModel> {
        private final LlamaModel draftModel;
        private final float draftMinProbability;
        private final float draftBranchProbability;

        private DraftModel(Common common, LlamaModel draftModel, float draftMinProbability,
                float draftBranchProbability) {
            super(common);
            SettingTable t = SettingTable.GENERATION;
            t.get("spec.draft.p_min").check("draft minProbability", draftMinProbability);
            t.get("spec.draft.p_branch").check("draft branchProbability", draftBranchProbability);
            this.draftModel = draftModel;
            this.draftMinProbability = draftMinProbability;
            this.draftBranchProbability = draftBranchProbability;
        }

        @Override
        public Kind kind() {
            return Kind.DRAFT_MODEL;
        }

        /** The draft model. */
        public LlamaModel draftModel() {
            return draftModel;
        }

        /** The draft model's probability below which its chain stops. */
        public float draftMinProbability() {
            return draftMinProbability;
        }

        /** The draft model's probability below which the runner-up is proposed too (greedy). */
        public float draftBranchProbability() {
            return draftBranchProbability;
        }

        @Override
        DraftModel with(Common common) {
            return new DraftModel(common, draftModel, draftMinProbability, draftBranchProbability);
        }

        @Override
        void ownSettings(NamedValues out) {
            out.put("spec.draft.p_min", draftMinProbability).put("spec.draft.p_branch", draftBranchProbability);
        }

        @Override
        Object own() {
            return Arrays.asList(draftModel, super.own());
        }

        @Override
        public String toString() {
            return "Speculation.draftModel(" + draftModel.path() + ", " + draftMinProbability + ", "
                    + draftBranchProbability + ")" + suffix("");
        }
    }

    /** The common settings, for the subclasses' own with... methods. */
    final Common common() {
        return common;
    }
}
