package dev.llamaspec;

import java.util.HashMap;
import java.util.Map;

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
 * @param threads            threads the last step ran on (automatic threads change with the load; see
 *                           {@link SessionOptions#threads()})
 */
public record GenerationStats(int promptTokens, int reusedPromptTokens, int generatedTokens, int steps,
        int draftedTokens, int acceptedTokens, int windowTokens, double promptMillis, double timeToFirstTokenMillis,
        double generationMillis, double draftMillis, double verifyMillis, int threads) {

    /** Mean tokens produced per step (τ); 1 without speculation. */
    public double tokensPerStep() {
        return steps == 0 ? 0 : (double) generatedTokens / steps;
    }

    /** Tokens per second after the first: (generatedTokens - 1) / generationMillis. */
    public double tokensPerSecond() {
        return generationMillis <= 0 || generatedTokens < 2 ? 0 : (generatedTokens - 1) * 1000.0 / generationMillis;
    }

    /**
     * Built from the engine's counters by their names ({@code sd_stats_values}: "n_prompt", ...,
     * "t_verify_us"); called from JNI. Names the record does not use are ignored.
     *
     * @throws IllegalStateException when a counter the record needs is missing
     */
    static GenerationStats fromNative(String[] names, long[] values) {
        Map<String, Long> v = new HashMap<>();
        for (int i = 0; i < names.length; i++) {
            v.put(names[i], values[i]);
        }
        return new GenerationStats(count(v, "n_prompt"), count(v, "n_prompt_reused"), count(v, "n_generated"),
                count(v, "n_steps"), count(v, "n_drafted"), count(v, "n_accepted"), count(v, "n_aux"),
                millis(v, "t_prompt_us"), millis(v, "t_first_us"), millis(v, "t_gen_us"), millis(v, "t_draft_us"),
                millis(v, "t_verify_us"), count(v, "n_threads"));
    }

    private static long value(Map<String, Long> values, String name) {
        Long v = values.get(name);
        if (v == null) {
            throw new IllegalStateException("the engine's statistics have no '" + name + "' (it reported "
                    + values.keySet() + ")");
        }
        return v;
    }

    private static int count(Map<String, Long> values, String name) {
        return (int) value(values, name);
    }

    private static double millis(Map<String, Long> values, String microsName) {
        return value(values, microsName) / 1000.0;
    }
}
