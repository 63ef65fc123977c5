package dev.llamaspec;

import java.util.Locale;
import java.util.Objects;

/**
 * How a generation speculates: which drafter proposes tokens, and how many the engine may evaluate
 * per step. Immutable. Speculation never changes the output: greedy decoding gives plain decoding's
 * tokens and sampling follows the model's distribution exactly; it only changes the speed.
 *
 * <p>With the hardware-aware budget (the default) each step evaluates only the draft tokens whose
 * learnt chance of acceptance pays for their cost on this device, measured once per session: on a
 * CPU, where every extra token costs, that can be none; on a GPU, where extra tokens are nearly free,
 * it is a wide tree. {@link #withBudget(boolean) withBudget(false)} evaluates every proposed token up to
 * {@link #maxDraftTokens()}.
 */
public final class Speculation {
    /** The drafters (in the order of the engine's sd_spec_type). */
    public enum Kind {
        /** Plain decoding. */
        NONE(0),
        /** Prompt lookup: continuations of earlier occurrences of the last n tokens. */
        PROMPT_LOOKUP(1),
        /** Token Recycling: the model's own earlier top-k predictions after each token. */
        TOKEN_RECYCLING(2),
        /**
         * Prompt lookup, Token Recycling and lookahead's window together, each node and the window
         * chosen by the budget.
         */
        AUTO(3),
        /** Lookahead decoding: a Jacobi window of guesses feeding a pool of n-grams. */
        LOOKAHEAD(4),
        /** A second, smaller model with the same vocabulary drafts chains of tokens. */
        DRAFT_MODEL(5),
        /** Medusa heads: trained heads predict the next tokens from the model's hidden state. */
        MEDUSA(6);

        private final int code;

        Kind(int code) {
            this.code = code;
        }

        /** The engine's sd_spec_type value. */
        int code() {
            return code;
        }
    }

    private static final float DRAFT_MIN_PROBABILITY = 0.3f;
    private static final float DRAFT_BRANCH_PROBABILITY = 0.6f;
    private static final Speculation NONE = new Speculation(Kind.NONE, 32, 8, true, 1, 4, 4, 8, 8, 4, 8);

    private final Kind kind;
    private final int maxDraftTokens;
    private final int maxDepth;
    private final boolean budget;
    private final int minNgram;
    private final int maxNgram;
    private final int maxBranches;
    private final int recyclingK;
    private final int windowWidth;
    private final int ngramSize;
    private final int maxCandidates;
    private final MedusaHeads heads;
    private final boolean staticTree;
    private final int candidatesPerHead;
    private final boolean typicalAcceptance;
    private final float typicalThreshold;
    private final float typicalAlpha;
    private final LlamaModel draftModel;
    private final float draftMinProbability;
    private final float draftBranchProbability;

    private Speculation(Kind kind, int maxDraftTokens, int maxDepth, boolean budget, int minNgram, int maxNgram,
            int maxBranches, int recyclingK, int windowWidth, int ngramSize, int maxCandidates) {
        this(kind, maxDraftTokens, maxDepth, budget, minNgram, maxNgram, maxBranches, recyclingK, windowWidth, ngramSize,
                maxCandidates, null, false, 8, false, 0.09f, 0.3f, null, DRAFT_MIN_PROBABILITY, DRAFT_BRANCH_PROBABILITY);
    }

    private Speculation(Kind kind, int maxDraftTokens, int maxDepth, boolean budget, int minNgram, int maxNgram,
            int maxBranches, int recyclingK, int windowWidth, int ngramSize, int maxCandidates, MedusaHeads heads,
            boolean staticTree, int candidatesPerHead, boolean typicalAcceptance, float typicalThreshold,
            float typicalAlpha, LlamaModel draftModel, float draftMinProbability, float draftBranchProbability) {
        Checks.range("candidatesPerHead", candidatesPerHead, 1, 32);
        Checks.finite("typical acceptance threshold", typicalThreshold, 0f, 1f, false);
        Checks.finite("typical acceptance alpha", typicalAlpha, 0f, 1f, true);
        Checks.range("maxDraftTokens", maxDraftTokens, 1, 64);
        Checks.range("maxDepth", maxDepth, 1, 32);
        Checks.range("minNgram", minNgram, 1, 64);
        Checks.range("maxNgram", maxNgram, minNgram, 64);
        Checks.range("maxBranches", maxBranches, 1, 64);
        Checks.range("recyclingK", recyclingK, 1, 8);
        Checks.range("windowWidth (w)", windowWidth, 1, 32);
        Checks.range("ngramSize (n)", ngramSize, 2, 16);
        Checks.range("maxCandidates (g)", maxCandidates, 1, 32);
        if (!(draftMinProbability >= 0f && draftMinProbability <= 1f)) {
            throw new IllegalArgumentException("draft minProbability must be in [0, 1], got " + draftMinProbability);
        }
        if (!(draftBranchProbability >= 0f && draftBranchProbability <= 1f)) {
            throw new IllegalArgumentException(
                    "draft branchProbability must be in [0, 1], got " + draftBranchProbability);
        }
        this.kind = kind;
        this.maxDraftTokens = maxDraftTokens;
        this.maxDepth = maxDepth;
        this.budget = budget;
        this.minNgram = minNgram;
        this.maxNgram = maxNgram;
        this.maxBranches = maxBranches;
        this.recyclingK = recyclingK;
        this.windowWidth = windowWidth;
        this.ngramSize = ngramSize;
        this.maxCandidates = maxCandidates;
        this.heads = heads;
        this.staticTree = staticTree;
        this.candidatesPerHead = candidatesPerHead;
        this.typicalAcceptance = typicalAcceptance;
        this.typicalThreshold = typicalThreshold;
        this.typicalAlpha = typicalAlpha;
        this.draftModel = draftModel;
        this.draftMinProbability = draftMinProbability;
        this.draftBranchProbability = draftBranchProbability;
    }

    private Speculation copy(int maxDraftTokens, int maxDepth, boolean budget, boolean staticTree, int candidatesPerHead,
            boolean typicalAcceptance, float typicalThreshold, float typicalAlpha) {
        return new Speculation(kind, maxDraftTokens, maxDepth, budget, minNgram, maxNgram, maxBranches, recyclingK,
                windowWidth, ngramSize, maxCandidates, heads, staticTree, candidatesPerHead, typicalAcceptance,
                typicalThreshold, typicalAlpha, draftModel, draftMinProbability, draftBranchProbability);
    }

    /** Plain decoding (the default). */
    public static Speculation none() {
        return NONE;
    }

    /** Prompt lookup with n-grams of 1 to 4 tokens and up to 4 branches. */
    public static Speculation promptLookup() {
        return promptLookup(1, 4, 4);
    }

    /**
     * Prompt lookup: the last n tokens (n from maxNgram down to minNgram) are looked up earlier in
     * the prompt and the generated text, and what followed them is proposed; up to maxBranches
     * different continuations become sibling branches.
     */
    public static Speculation promptLookup(int minNgram, int maxNgram, int maxBranches) {
        return new Speculation(Kind.PROMPT_LOOKUP, 32, 8, true, minNgram, maxNgram, maxBranches, 8, 8, 4, 8);
    }

    /** Token Recycling with k = 8 successors per token. */
    public static Speculation tokenRecycling() {
        return tokenRecycling(8);
    }

    /**
     * Token Recycling (Luo et al. 2024): for each token the session remembers the k tokens the model
     * ranked highest after it in earlier steps, and proposes a tree from them. What it learnt stays
     * with the session across generations.
     */
    public static Speculation tokenRecycling(int k) {
        return new Speculation(Kind.TOKEN_RECYCLING, 32, 8, true, 1, 4, 4, k, 8, 4, 8);
    }

    /** Lookahead decoding with a window of 8 columns, 4-grams and up to 8 candidates per step. */
    public static Speculation lookahead() {
        return lookahead(8, 4, 8);
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
     * @param w window width, 1 to 32
     * @param n n-gram size, 2 to 16
     * @param g n-grams verified per step, 1 to 32
     */
    public static Speculation lookahead(int w, int n, int g) {
        return new Speculation(Kind.LOOKAHEAD, 32, 8, true, 1, 4, 4, 8, w, n, g);
    }

    /**
     * Every training-free drafter at once (prompt lookup, Token Recycling, lookahead's window); the
     * budget keeps whichever nodes, and whichever part of the window, pay off on this device.
     */
    public static Speculation auto() {
        return new Speculation(Kind.AUTO, 32, 8, true, 1, 4, 4, 8, 8, 4, 8);
    }

    /**
     * Medusa decoding (Cai et al. 2024) with heads loaded for the session's model: head k predicts
     * the token k + 1 after the current one from the model's last hidden state, and the step's tree is
     * grown from the heads' top candidates, best-first by their probabilities (the dynamic tree; see
     * {@link #withStaticTree(boolean)}), cut to the hardware budget. Acceptance is exact unless
     * {@link #withLossyTypicalAcceptance(float, float)} is chosen. The heads must stay open until the
     * generation begins; the session keeps them afterwards.
     */
    public static Speculation medusa(MedusaHeads heads) {
        Objects.requireNonNull(heads, "heads");
        return new Speculation(Kind.MEDUSA, 32, 8, true, 1, 4, 4, 8, 8, 4, 8, heads, false, 8, false, 0.09f, 0.3f, null,
                DRAFT_MIN_PROBABILITY, DRAFT_BRANCH_PROBABILITY);
    }

    /**
     * Medusa's static sparse tree instead of the dynamic one: the tree is grown by each head's measured
     * accuracy per candidate rank (recorded in the heads file by the trainer; a prior otherwise), the
     * same for every step, as Medusa's published trees are.
     */
    public Speculation withStaticTree(boolean staticTree) {
        requireMedusa("withStaticTree");
        return copy(maxDraftTokens, maxDepth, budget, staticTree, candidatesPerHead, typicalAcceptance, typicalThreshold,
                typicalAlpha);
    }

    /** Candidates taken from each Medusa head (1 to 32, default 8). */
    public Speculation withCandidatesPerHead(int candidatesPerHead) {
        requireMedusa("withCandidatesPerHead");
        return copy(maxDraftTokens, maxDepth, budget, staticTree, candidatesPerHead, typicalAcceptance, typicalThreshold,
                typicalAlpha);
    }

    /**
     * LOSSY: Medusa's typical acceptance instead of exact acceptance. Under sampling, the draft token
     * the model finds likeliest is accepted when its probability p exceeds
     * {@code min(threshold, alpha * exp(-entropy))} of the model's distribution; more drafts are
     * accepted, but the output no longer follows the model's distribution exactly. Greedy decoding
     * is not affected. Medusa's defaults are threshold 0.09 and alpha 0.3.
     *
     * @param threshold in (0, 1]
     * @param alpha in [0, 1]
     */
    public Speculation withLossyTypicalAcceptance(float threshold, float alpha) {
        return copy(maxDraftTokens, maxDepth, budget, staticTree, candidatesPerHead, true, threshold, alpha);
    }

    /** Exact acceptance (the default): the output follows the model's distribution exactly. */
    public Speculation withExactAcceptance() {
        return copy(maxDraftTokens, maxDepth, budget, staticTree, candidatesPerHead, false, typicalThreshold,
                typicalAlpha);
    }

    private void requireMedusa(String method) {
        if (kind != Kind.MEDUSA) {
            throw new IllegalStateException(method + " applies to Speculation.medusa(...) only, not " + kind);
        }
    }

    /** A draft model with the default thresholds: {@code draftModel(draft, 0.3f, 0.6f)}. */
    public static Speculation draftModel(LlamaModel draft) {
        return draftModel(draft, DRAFT_MIN_PROBABILITY, DRAFT_BRANCH_PROBABILITY);
    }

    /**
     * Draft-model speculation: {@code draft}, a smaller model with this model's vocabulary, proposes a
     * chain of tokens each step (one evaluation of the draft model per token) in a context of its own
     * that the session keeps. The chain stops where the draft model's top token is less likely than
     * {@code minProbability}, at {@link #maxDepth()}, or (with the budget) where a longer chain does not
     * pay on this device. Greedy: where the top token is less likely than {@code branchProbability}, the
     * runner-up is proposed as a second branch. Sampling: the tokens are drawn from the draft model's
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
     * @param minProbability    in [0, 1]; 0 = chains of {@link #maxDepth()} tokens
     * @param branchProbability in [0, 1]; 0 = no branches
     * @throws IllegalArgumentException when draft is closed or a probability is out of range
     */
    public static Speculation draftModel(LlamaModel draft, float minProbability, float branchProbability) {
        Objects.requireNonNull(draft, "draft");
        if (draft.isClosed()) {
            throw new IllegalArgumentException("the draft model is closed: " + draft.path());
        }
        return new Speculation(Kind.DRAFT_MODEL, 32, 8, true, 1, 4, 4, 8, 8, 4, 8, null, false, 8, false, 0.09f, 0.3f,
                draft, minProbability,
                branchProbability);
    }

    /** The same strategy with at most this many draft tokens per step (1 to 64). */
    public Speculation withMaxDraftTokens(int maxDraftTokens) {
        return copy(maxDraftTokens, maxDepth, budget, staticTree, candidatesPerHead, typicalAcceptance, typicalThreshold,
                typicalAlpha);
    }

    /** The same strategy accepting at most this many draft tokens per step (1 to 32). */
    public Speculation withMaxDepth(int maxDepth) {
        return copy(maxDraftTokens, maxDepth, budget, staticTree, candidatesPerHead, typicalAcceptance, typicalThreshold,
                typicalAlpha);
    }

    /** The same strategy with the hardware-aware budget on (default) or off. */
    public Speculation withBudget(boolean budget) {
        return copy(maxDraftTokens, maxDepth, budget, staticTree, candidatesPerHead, typicalAcceptance, typicalThreshold,
                typicalAlpha);
    }

    public Kind kind() {
        return kind;
    }

    public int maxDraftTokens() {
        return maxDraftTokens;
    }

    public int maxDepth() {
        return maxDepth;
    }

    public boolean budget() {
        return budget;
    }

    public int minNgram() {
        return minNgram;
    }

    public int maxNgram() {
        return maxNgram;
    }

    public int maxBranches() {
        return maxBranches;
    }

    public int recyclingK() {
        return recyclingK;
    }

    /** Lookahead's window width w. */
    public int windowWidth() {
        return windowWidth;
    }

    /** Lookahead's n-gram size n (the window has n - 1 levels). */
    public int ngramSize() {
        return ngramSize;
    }

    /** Lookahead's candidates verified per step g. */
    public int maxCandidates() {
        return maxCandidates;
    }

    /** The Medusa heads, or null for other kinds. */
    public MedusaHeads heads() {
        return heads;
    }

    /** Whether Medusa uses the static tree. */
    public boolean staticTree() {
        return staticTree;
    }

    /** Candidates taken from each Medusa head. */
    public int candidatesPerHead() {
        return candidatesPerHead;
    }

    /** Whether the lossy typical acceptance is on (see {@link #withLossyTypicalAcceptance}). */
    public boolean typicalAcceptance() {
        return typicalAcceptance;
    }

    public float typicalThreshold() {
        return typicalThreshold;
    }

    public float typicalAlpha() {
        return typicalAlpha;
    }

    /** The draft model of {@link Kind#DRAFT_MODEL}, else null. */
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

    /**
     * Parses a strategy name as used on command lines: none, lookup, recycling, lookahead, auto. A
     * draft model is not a name: use {@link #draftModel(LlamaModel)}.
     *
     * @throws IllegalArgumentException for other names
     */
    public static Speculation parse(String name) {
        switch (Objects.requireNonNull(name, "name").toLowerCase(Locale.ROOT)) {
            case "none": case "plain": return none();
            case "lookup": case "prompt-lookup": return promptLookup();
            case "recycling": case "token-recycling": return tokenRecycling();
            case "lookahead": return lookahead();
            case "auto": return auto();
            case "draft": case "draft-model": throw new IllegalArgumentException("speculation '" + name
                    + "' needs a draft model: use Speculation.draftModel(model)");
            default: throw new IllegalArgumentException("unknown speculation '" + name
                    + "' (none, lookup, recycling, lookahead, auto)");
        }
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Speculation)) {
            return false;
        }
        Speculation s = (Speculation) o;
        return kind == s.kind && maxDraftTokens == s.maxDraftTokens && maxDepth == s.maxDepth && budget == s.budget
                && minNgram == s.minNgram && maxNgram == s.maxNgram && maxBranches == s.maxBranches
                && recyclingK == s.recyclingK && windowWidth == s.windowWidth && ngramSize == s.ngramSize
                && maxCandidates == s.maxCandidates && heads == s.heads && staticTree == s.staticTree
                && candidatesPerHead == s.candidatesPerHead && typicalAcceptance == s.typicalAcceptance
                && typicalThreshold == s.typicalThreshold && typicalAlpha == s.typicalAlpha
                && draftModel == s.draftModel && Float.compare(draftMinProbability, s.draftMinProbability) == 0
                && Float.compare(draftBranchProbability, s.draftBranchProbability) == 0;
    }

    @Override
    public int hashCode() {
        return Objects.hash(kind, maxDraftTokens, maxDepth, budget, minNgram, maxNgram, maxBranches, recyclingK,
                windowWidth, ngramSize, maxCandidates, System.identityHashCode(heads), staticTree, candidatesPerHead,
                typicalAcceptance, typicalThreshold, typicalAlpha, System.identityHashCode(draftModel),
                draftMinProbability, draftBranchProbability);
    }

    @Override
    public String toString() {
        switch (kind) {
            case NONE: return "Speculation.none()";
            case PROMPT_LOOKUP: return "Speculation.promptLookup(" + minNgram + ", " + maxNgram + ", " + maxBranches
                    + ")" + suffix();
            case TOKEN_RECYCLING: return "Speculation.tokenRecycling(" + recyclingK + ")" + suffix();
            case LOOKAHEAD: return "Speculation.lookahead(" + windowWidth + ", " + ngramSize + ", " + maxCandidates + ")"
                    + suffix();
            case MEDUSA: return "Speculation.medusa(" + heads.path() + ")" + suffix();
            case DRAFT_MODEL: return "Speculation.draftModel(" + draftModel.path() + ", " + draftMinProbability + ", "
                    + draftBranchProbability + ")" + suffix();
            default: return "Speculation.auto()" + suffix();
        }
    }

    private String suffix() {
        return "{maxDraftTokens=" + maxDraftTokens + ", maxDepth=" + maxDepth + ", budget=" + budget
                + (kind == Kind.MEDUSA ? ", tree=" + (staticTree ? "static" : "dynamic") + ", candidatesPerHead="
                        + candidatesPerHead : "")
                + (typicalAcceptance ? ", LOSSY typical acceptance(" + typicalThreshold + ", " + typicalAlpha + ")" : "")
                + "}";
    }
}
