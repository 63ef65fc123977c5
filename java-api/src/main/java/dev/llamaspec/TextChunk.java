package dev.llamaspec;

import java.util.Arrays;

/**
 * What one step of generation produced: one token with plain decoding, several with speculation.
 * The text is made of whole characters; a character split across tokens arrives with its last
 * token, and text that might be the start of a stop string is held back until it is known not to be.
 */
public final class TextChunk {
    private final String text;
    private final int[] tokens;

    TextChunk(String text, int[] tokens) {
        this.text = text;
        this.tokens = tokens;
    }

    public String text() {
        return text;
    }

    /** The token ids of this step (a copy). */
    public int[] tokens() {
        return tokens.clone();
    }

    public int tokenCount() {
        return tokens.length;
    }

    @Override
    public String toString() {
        return "TextChunk{text='" + text + "', tokens=" + Arrays.toString(tokens) + "}";
    }
}
