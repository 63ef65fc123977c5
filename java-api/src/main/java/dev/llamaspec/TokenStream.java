package dev.llamaspec;

import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * A generation as it happens: iterate over its chunks, then read {@link #result()}. Single use and
 * for one thread. Closing the stream before the end cancels the generation (within one step) and
 * frees the session for the next one; always close it, e.g. with try-with-resources:
 *
 * <pre>{@code
 * try (TokenStream stream = session.stream("Once upon a time", options)) {
 *     for (TextChunk chunk : stream) {
 *         System.out.print(chunk.text());
 *     }
 * }
 * }</pre>
 */
public final class TokenStream implements Iterable<TextChunk>, AutoCloseable {
    private final GenerationRun run;
    private boolean iterated;
    private TextChunk lookahead;

    TokenStream(GenerationRun run) {
        this.run = run;
    }

    /** The one iterator of this stream. */
    @Override
    public Iterator<TextChunk> iterator() {
        if (iterated) {
            throw new IllegalStateException("a TokenStream can be iterated once");
        }
        iterated = true;
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                if (lookahead == null && !run.done()) {
                    lookahead = run.next();
                }
                return lookahead != null;
            }

            @Override
            public TextChunk next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                TextChunk chunk = lookahead;
                lookahead = null;
                return chunk;
            }
        };
    }

    /** The whole generation once the stream has ended (after the last chunk, or after close()). */
    public Generation result() {
        return run.result();
    }

    /** Cancels the generation if it is still running. Idempotent. */
    @Override
    public void close() {
        run.cancel();
    }
}
