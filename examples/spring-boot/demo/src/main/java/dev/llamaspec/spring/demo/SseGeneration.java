package dev.llamaspec.spring.demo;

import tools.jackson.core.JacksonException;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ObjectNode;
import dev.llamaspec.Generation;
import dev.llamaspec.LlamaException;
import dev.llamaspec.TextChunk;
import dev.llamaspec.TokenStream;
import dev.llamaspec.spring.PooledSession;
import java.util.Locale;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;

/**
 * One streamed generation: writes each step as a Server-Sent Event in OpenAI's chunk format, then a
 * last chunk with the finish reason and usage, then {@code data: [DONE]}. Runs on its own thread.
 *
 * <p>When the client goes away (a write fails, or the container reports an error or a timeout on the
 * stream) the generation is cancelled: it ends within one step and the session goes back to the pool
 * before anything else is attempted.
 */
final class SseGeneration implements Runnable {
    private static final Log log = LogFactory.getLog(SseGeneration.class);

    /** A write to the client failed: it is gone. */
    private static final class ClientGone extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ClientGone(Throwable cause) {
            super(cause);
        }
    }

    private final OpenAiRequest request;
    private final OpenAiResponses.Call call;
    private final PooledSession pooled;
    private final TokenStream tokens;
    private final EventStream events;
    private final ObjectMapper json;
    private final GenerationMetrics metrics;

    SseGeneration(OpenAiRequest request, OpenAiResponses responses, PooledSession pooled, TokenStream tokens,
            EventStream events, ObjectMapper json, GenerationMetrics metrics) {
        this.request = request;
        this.call = responses.call(request.kind);
        this.pooled = pooled;
        this.tokens = tokens;
        this.events = events;
        this.json = json;
        this.metrics = metrics;
        events.onTimeout(pooled::cancel);
        events.onError(error -> pooled.cancel());
    }

    @Override
    public void run() {
        Generation result = null;
        RuntimeException failure = null;
        boolean clientGone = false;
        try {
            if (request.kind == OpenAiRequest.Kind.CHAT) {
                send(call.chunk("", true)); // OpenAI's first chunk: the role
            }
            for (TextChunk chunk : tokens) {
                if (!chunk.text().isEmpty()) {
                    send(call.chunk(chunk.text(), false));
                }
            }
            result = tokens.result();
        } catch (ClientGone e) {
            clientGone = true;
        } catch (RuntimeException e) {
            failure = e;
        } finally {
            tokens.close(); // cancels a generation still running
            if (result == null && failure == null) {
                try {
                    result = tokens.result();
                } catch (IllegalStateException e) {
                    failure = e; // the session was closed under the generation (shutdown)
                }
            }
            pooled.close();
        }
        if (result != null) {
            metrics.record(request, result);
        }
        if (clientGone) {
            log.debug("client went away; generation " + call.id + " cancelled");
            events.complete();
            return;
        }
        try {
            if (failure != null) {
                log.error("generation " + call.id + " failed", failure);
                String message = failure.getMessage() != null ? failure.getMessage() : failure.toString();
                send(OpenAiResponses.error(json, message, "server_error", null,
                        failure instanceof LlamaException ? ((LlamaException) failure).code().name().toLowerCase(Locale.ROOT)
                                : null));
            } else {
                send(call.lastChunk(result, request.speculation));
                sendData("[DONE]");
            }
            events.complete();
        } catch (ClientGone e) {
            events.complete();
        }
    }

    private void send(ObjectNode event) {
        try {
            sendData(json.writeValueAsString(event));
        } catch (JacksonException e) {
            throw new IllegalStateException("cannot write a chunk as JSON", e);
        }
    }

    private void sendData(String data) {
        try {
            events.sendData(data);
        } catch (Exception e) { // IOException from the socket, IllegalStateException once the stream has ended
            throw new ClientGone(e);
        }
    }
}
