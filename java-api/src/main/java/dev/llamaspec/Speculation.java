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
        NONE,
        /** Prompt lookup: continuations of earlier occurrences of the last n tokens. */
        PROMPT_LOOKUP,
        /** Token Recycling: the model's own earlier top-k predictions after each token. */
        TOKEN_RECYCLING,
        /** Prompt lookup and Token Recycling together, chosen per node by the budget. */
        AUTO
    }

    private static final Speculation NONE = new Speculation(Kind.NONE, 32, 8, true, 1, 4, 4, 8);

    private final Kind kind;
    private final int maxDraftTokens;
    private final int maxDepth;
    private final boolean budget;
    private final int minNgram;
    private final int maxNgram;
    private final int maxBranches;
    private final int recyclingK;

    private Speculation(Kind kind, int maxDraftTokens, int maxDepth, boolean budget, int minNgram, int maxNgram,
            int maxBranches, int recyclingK) {
        Checks.range("maxDraftTokens", maxDraftTokens, 1, 64);
        Checks.range("maxDepth", maxDepth, 1, 32);
        Checks.range("minNgram", minNgram, 1, 64);
        Checks.range("maxNgram", maxNgram, minNgram, 64);
        Checks.range("maxBranches", maxBranches, 1, 64);
        Checks.range("recyclingK", recyclingK, 1, 8);
        this.kind = kind;
        this.maxDraftTokens = maxDraftTokens;
        this.maxDepth = maxDepth;
        this.budget = budget;
        this.minNgram = minNgram;
        this.maxNgram = maxNgram;
        this.maxBranches = maxBranches;
        this.recyclingK = recyclingK;
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
        return new Speculation(Kind.PROMPT_LOOKUP, 32, 8, true, minNgram, maxNgram, maxBranches, 8);
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
        return new Speculation(Kind.TOKEN_RECYCLING, 32, 8, true, 1, 4, 4, k);
    }

    /** Both drafters; the budget keeps whichever nodes pay off on this device. */
    public static Speculation auto() {
        return new Speculation(Kind.AUTO, 32, 8, true, 1, 4, 4, 8);
    }

    /** The same strategy with at most this many draft tokens per step (1 to 64). */
    public Speculation withMaxDraftTokens(int maxDraftTokens) {
        return new Speculation(kind, maxDraftTokens, maxDepth, budget, minNgram, maxNgram, maxBranches, recyclingK);
    }

    /** The same strategy accepting at most this many draft tokens per step (1 to 32). */
    public Speculation withMaxDepth(int maxDepth) {
        return new Speculation(kind, maxDraftTokens, maxDepth, budget, minNgram, maxNgram, maxBranches, recyclingK);
    }

    /** The same strategy with the hardware-aware budget on (default) or off. */
    public Speculation withBudget(boolean budget) {
        return new Speculation(kind, maxDraftTokens, maxDepth, budget, minNgram, maxNgram, maxBranches, recyclingK);
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

    /**
     * Parses a strategy name as used on command lines: none, lookup, recycling, auto.
     *
     * @throws IllegalArgumentException for other names
     */
    public static Speculation parse(String name) {
        switch (Objects.requireNonNull(name, "name").toLowerCase(Locale.ROOT)) {
            case "none": case "plain": return none();
            case "lookup": case "prompt-lookup": return promptLookup();
            case "recycling": case "token-recycling": return tokenRecycling();
            case "auto": return auto();
            default: throw new IllegalArgumentException("unknown speculation '" + name
                    + "' (none, lookup, recycling, auto)");
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
                && recyclingK == s.recyclingK;
    }

    @Override
    public int hashCode() {
        return Objects.hash(kind, maxDraftTokens, maxDepth, budget, minNgram, maxNgram, maxBranches, recyclingK);
    }

    @Override
    public String toString() {
        switch (kind) {
            case NONE: return "Speculation.none()";
            case PROMPT_LOOKUP: return "Speculation.promptLookup(" + minNgram + ", " + maxNgram + ", " + maxBranches
                    + ")" + suffix();
            case TOKEN_RECYCLING: return "Speculation.tokenRecycling(" + recyclingK + ")" + suffix();
            default: return "Speculation.auto()" + suffix();
        }
    }

    private String suffix() {
        return "{maxDraftTokens=" + maxDraftTokens + ", maxDepth=" + maxDepth + ", budget=" + budget + "}";
    }
}
