package dev.llamaspec;

import java.util.Arrays;

/** The result of a generation: the text, its tokens, why it stopped, and statistics. */
public final class Generation {
    private final String text;
    private final int[] tokens;
    private final StopReason stopReason;
    private final GenerationStats stats;

    Generation(String text, int[] tokens, StopReason stopReason, GenerationStats stats) {
        this.text = text;
        this.tokens = tokens;
        this.stopReason = stopReason;
        this.stats = stats;
    }

    /** The generated text, without the prompt and without a stop string. */
    public String text() {
        return text;
    }

    /** The generated token ids (a copy). With a stop string, the tokens that contain it are included. */
    public int[] tokens() {
        return tokens.clone();
    }

    public StopReason stopReason() {
        return stopReason;
    }

    public GenerationStats stats() {
        return stats;
    }

    @Override
    public String toString() {
        return "Generation{stopReason=" + stopReason + ", tokens=" + tokens.length + ", text='" + text + "'}";
    }

    int[] tokensNoCopy() {
        return tokens;
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
