package dev.llamaspec;

/**
 * Statistics of one generation, as an immutable snapshot.
 *
 * @param promptTokens       tokens in the prompt
 * @param reusedPromptTokens of which were found in the session's KV cache and not evaluated again
 * @param generatedTokens    tokens generated (an end-of-generation token is not counted)
 * @param steps              model evaluations of the generation phase (one per token without speculation)
 * @param draftedTokens      tokens proposed by speculation
 * @param acceptedTokens     proposed tokens that were accepted
 * @param windowTokens       lookahead guesses evaluated beside the proposed tokens
 * @param promptMillis       time to evaluate the prompt
 * @param timeToFirstTokenMillis time from the start to the first generated token
 * @param generationMillis   time from the first generated token to the last
 * @param draftMillis        time spent drafting
 * @param verifyMillis       time spent evaluating the model in the generation phase
 */
public record GenerationStats(int promptTokens, int reusedPromptTokens, int generatedTokens, int steps,
        int draftedTokens, int acceptedTokens, int windowTokens, double promptMillis, double timeToFirstTokenMillis,
        double generationMillis, double draftMillis, double verifyMillis) {

    /** Mean tokens produced per step (τ); 1 without speculation. */
    public double tokensPerStep() {
        return steps == 0 ? 0 : (double) generatedTokens / steps;
    }

    /** Tokens per second after the first: (generatedTokens - 1) / generationMillis. */
    public double tokensPerSecond() {
        return generationMillis <= 0 || generatedTokens < 2 ? 0 : (generatedTokens - 1) * 1000.0 / generationMillis;
    }

    /** Built from the native counters (see nStats in native/session_jni.cpp for the order). */
    static GenerationStats fromNative(long[] s) {
        return new GenerationStats((int) s[0], (int) s[1], (int) s[2], (int) s[3], (int) s[4], (int) s[5], (int) s[11],
                s[6] / 1000.0, s[7] / 1000.0, s[8] / 1000.0, s[9] / 1000.0, s[10] / 1000.0);
    }
}
