package dev.llamaspec.langchain4j;

import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingHandle;
import dev.llamaspec.Generation;
import dev.llamaspec.Session;
import java.util.concurrent.CompletableFuture;

/**
 * The {@link StreamingHandle} of one streamed reply of {@link LlamaChatModel}, which every
 * {@link PartialResponseContext} of that reply carries. {@link #cancel()} stops the generation in the
 * engine (within one step) and frees its session; as LangChain4j specifies, the handler then gets no
 * further callback. {@link #generation()} tells how the generation ended, also after a cancellation:
 *
 * <pre>{@code
 * public void onPartialResponse(PartialResponse partial, PartialResponseContext context) {
 *     if (enough) {
 *         LlamaStreamingHandle handle = (LlamaStreamingHandle) context.streamingHandle();
 *         handle.cancel();
 *         handle.generation().thenAccept(g -> log(g.stopReason(), g.stats().generatedTokens()));
 *     }
 * }
 * }</pre>
 */
public final class LlamaStreamingHandle implements StreamingHandle {
    private final CompletableFuture<Generation> generation = new CompletableFuture<>();
    private volatile boolean cancelled;
    private Session session; // guarded by this: the session while the generation holds it

    LlamaStreamingHandle() {}

    /** Stops the generation within one step and ends the callbacks. Safe from any thread; idempotent. */
    @Override
    public void cancel() {
        cancelled = true;
        synchronized (this) {
            if (session != null) {
                session.cancel();
            }
        }
    }

    @Override
    public boolean isCancelled() {
        return cancelled;
    }

    /**
     * Completes when the generation has ended and its session is free again, after the handler's last
     * callback returned: with the Java API's result ({@link Generation#stopReason()} is
     * {@link dev.llamaspec.StopReason#CANCELLED CANCELLED} after {@link #cancel()}; the statistics count
     * the tokens generated until then), or exceptionally with what {@code onError} received. A copy:
     * completing or cancelling it affects nothing else.
     */
    public CompletableFuture<Generation> generation() {
        return generation.copy();
    }

    /** The generation runs in {@code session} from now until {@link #release()}; cancel() reaches it. */
    synchronized void hold(Session session) {
        this.session = session;
    }

    /** The session goes back to the pool: a late cancel() must not reach its next request. */
    synchronized void release() {
        session = null;
    }

    void complete(Generation result) {
        generation.complete(result);
    }

    void fail(Throwable failure) {
        generation.completeExceptionally(failure);
    }
}
