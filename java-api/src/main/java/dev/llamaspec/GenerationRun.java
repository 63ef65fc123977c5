package dev.llamaspec;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** One generation in progress: steps the session and collects text, tokens and the outcome. */
final class GenerationRun {
    private final Session session;
    private final StringBuilder text = new StringBuilder();
    private int[] tokens = new int[64];
    private int tokenCount;
    private Generation result;
    private Throwable failure;

    GenerationRun(Session session) {
        this.session = session;
    }

    /** The next chunk with text or tokens, or null when the generation has ended. */
    TextChunk next() {
        while (result == null && failure == null) {
            StepResult step;
            try {
                step = session.step();
            } catch (RuntimeException | Error e) {
                failure = e;
                session.release();
                throw e;
            }
            String piece = new String(step.text, StandardCharsets.UTF_8);
            text.append(piece);
            append(step.tokens);
            if (step.stop != 0) {
                finish(StopReason.fromNative(step.stop));
            }
            if (step.tokens.length > 0 || !piece.isEmpty()) {
                return new TextChunk(piece, step.tokens);
            }
        }
        return null;
    }

    /** Ends the generation early after a failure outside the engine (a handler threw). */
    void abort(Throwable cause) {
        if (result != null || failure != null) {
            return;
        }
        failure = cause;
        try {
            session.cancel();
            session.step(); // the engine reports the cancellation and closes the generation
        } catch (RuntimeException ignored) {
            // the session was closed meanwhile; nothing is left to end
        } finally {
            session.release();
        }
    }

    /** Cancels and drains: used when a stream is closed before its end. */
    void cancel() {
        if (result != null || failure != null) {
            return;
        }
        session.cancel();
        try {
            while (next() != null) {
                // at most one more step: the engine stops at the cancellation
            }
        } catch (IllegalStateException closed) {
            // the session was closed meanwhile
        }
    }

    boolean done() {
        return result != null || failure != null;
    }

    Generation result() {
        if (failure != null) {
            throw new IllegalStateException("the generation failed", failure);
        }
        if (result == null) {
            throw new IllegalStateException("the generation has not ended yet");
        }
        return result;
    }

    Throwable failure() {
        return failure;
    }

    private void finish(StopReason reason) {
        try {
            result = new Generation(text.toString(), Arrays.copyOf(tokens, tokenCount), reason, session.stats());
        } finally {
            session.release();
        }
    }

    private void append(int[] more) {
        if (tokenCount + more.length > tokens.length) {
            tokens = Arrays.copyOf(tokens, Math.max(tokens.length * 2, tokenCount + more.length));
        }
        System.arraycopy(more, 0, tokens, tokenCount, more.length);
        tokenCount += more.length;
    }
}
