package dev.llamaspec;

/** Why a generation ended. */
public enum StopReason {
    /** {@link GenerationOptions#maxTokens()} tokens were generated. */
    MAX_TOKENS,
    /** The model produced an end-of-generation token. */
    END_OF_TEXT,
    /** A stop string was found; the text ends before it. */
    STOP_STRING,
    /** The session's context has no room for another token. */
    CONTEXT_FULL,
    /** {@link Session#cancel()} was called, or the stream was closed. */
    CANCELLED,
    /**
     * The grammar ({@link GenerationOptions#grammar()}) allows no token after the text: a dead end of the
     * grammar. A grammar that is complete ends with {@link #END_OF_TEXT} instead.
     */
    GRAMMAR;

    static StopReason fromNative(int code) {
        switch (code) {
            case 1: return MAX_TOKENS;
            case 2: return END_OF_TEXT;
            case 3: return STOP_STRING;
            case 4: return CONTEXT_FULL;
            case 5: return CANCELLED;
            case 6: return GRAMMAR;
            default: throw new IllegalStateException("unknown native stop reason " + code);
        }
    }
}
