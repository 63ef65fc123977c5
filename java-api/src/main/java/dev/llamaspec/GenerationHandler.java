package dev.llamaspec;

/**
 * Receives a generation as it happens. Methods are called on the generating thread, in order:
 * {@link #onToken} for each step, then exactly one of {@link #onComplete} or {@link #onError}.
 * New methods will be added as {@code default} methods, so implementations keep compiling.
 */
public interface GenerationHandler {

    /** A step's tokens and text. Throwing here cancels the generation and reaches {@link #onError}. */
    default void onToken(TextChunk chunk) {}

    /** The generation ended (also when cancelled: see {@link Generation#stopReason()}). */
    default void onComplete(Generation generation) {}

    /** The generation failed. */
    default void onError(Throwable error) {}
}
