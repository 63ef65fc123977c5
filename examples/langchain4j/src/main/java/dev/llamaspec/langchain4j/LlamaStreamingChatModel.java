package dev.llamaspec.langchain4j;

import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.Session;
import dev.llamaspec.TextChunk;
import dev.llamaspec.TokenStream;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executor;

/**
 * LangChain4j's {@link StreamingChatModel} on a llamaspec model. What it maps, refuses and reports, its
 * threads and sessions and who closes the model: see {@link LlamaChatModelBase}.
 *
 * <pre>{@code
 * try (LlamaStreamingChatModel model = LlamaStreamingChatModel.builder().modelPath(Path.of("model.gguf")).build()) {
 *     model.chat("Tell me a story.", new StreamingChatResponseHandler() {
 *         public void onPartialResponse(String text) { System.out.print(text); }
 *         public void onCompleteResponse(ChatResponse response) { System.out.println(response.tokenUsage()); }
 *         public void onError(Throwable error) { error.printStackTrace(); }
 *     });
 * }
 * }</pre>
 *
 * <p>Each reply is generated on the streaming executor (by default a new daemon thread per request;
 * {@code Runnable::run} generates in the calling thread, and {@code chat} returns after the last callback):
 * {@code onPartialResponse} with each step's text (one token without speculation, the step's accepted
 * tokens with it; a step whose text is held back, part of a character or maybe of a stop sequence, sends
 * none), then exactly one of {@code onCompleteResponse} or {@code onError}. Every failure after the call
 * returned, a refused request included, goes to {@code onError}; only a closed adapter throws at once. A
 * handler that throws ends the generation and gets what it threw in {@code onError}. The session is free
 * again before the last callback, so a request started from {@code onCompleteResponse} may use it.
 *
 * <p><b>Cancellation.</b> The handle of every {@link PartialResponseContext} of a reply is a
 * {@link LlamaStreamingHandle}: its {@code cancel()}, from any thread, stops the generation in the engine
 * within one step and frees its session; no callback follows, as LangChain4j specifies, and
 * {@link LlamaStreamingHandle#generation()} tells how far it got.
 */
public final class LlamaStreamingChatModel extends LlamaChatModelBase implements StreamingChatModel {
    private static final System.Logger LOG = System.getLogger(LlamaStreamingChatModel.class.getName());

    private final Executor executor;

    private LlamaStreamingChatModel(Builder builder) {
        super(builder);
        this.executor = builder.executor != null ? builder.executor : LlamaStreamingChatModel::newThread;
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Streams the reply to {@code handler} from the streaming executor.
     *
     * @throws IllegalStateException after {@link #close()}
     */
    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        Objects.requireNonNull(handler, "handler");
        ensureOpen();
        LlamaStreamingHandle handle = new LlamaStreamingHandle();
        try {
            List<ChatMessage> messages = messages(request);
            GenerationOptions options = options(request);
            executor.execute(() -> stream(messages, options, handler, handle));
        } catch (RuntimeException e) {
            notifyError(handler, e);
            handle.fail(e);
        }
    }

    private void stream(List<ChatMessage> messages, GenerationOptions options, StreamingChatResponseHandler handler,
            LlamaStreamingHandle handle) {
        Generation generation;
        try {
            generation = generate(messages, options, handler, handle);
        } catch (RuntimeException | Error e) {
            if (!handle.isCancelled()) {
                notifyError(handler, e);
            }
            handle.fail(e);
            return;
        }
        if (!handle.isCancelled()) {
            try {
                handler.onCompleteResponse(response(generation, options));
            } catch (RuntimeException | Error e) {
                notifyError(handler, e);
            }
        }
        handle.complete(generation);
    }

    /** Generates in a borrowed session, sending each step's text, until the end or the handle's cancel(). */
    private Generation generate(List<ChatMessage> messages, GenerationOptions options,
            StreamingChatResponseHandler handler, LlamaStreamingHandle handle) {
        Session session = borrow();
        handle.hold(session);
        try (TokenStream stream = session.chatStream(messages, options)) {
            PartialResponseContext context = new PartialResponseContext(handle);
            Iterator<TextChunk> chunks = stream.iterator();
            while (!handle.isCancelled() && chunks.hasNext()) {
                String text = chunks.next().text();
                if (!text.isEmpty()) {
                    handler.onPartialResponse(new PartialResponse(text), context);
                }
            }
            stream.close(); // ends the generation within one step when it was cancelled
            return stream.result();
        } finally {
            handle.release();
            giveBack(session); // also when the handler threw: closing the stream cancelled the generation
        }
    }

    private static void notifyError(StreamingChatResponseHandler handler, Throwable error) {
        try {
            handler.onError(error);
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.WARNING, "a StreamingChatResponseHandler's onError threw; ignored", e);
        }
    }

    private static void newThread(Runnable generation) {
        Thread thread = new Thread(generation, "llamaspec-langchain4j-stream");
        thread.setDaemon(true);
        thread.start();
    }

    /** Builds a {@link LlamaStreamingChatModel}; see {@link LlamaChatModelBase.Builder} for the settings. */
    public static final class Builder extends LlamaChatModelBase.Builder<LlamaStreamingChatModel.Builder> {
        private Executor executor;

        private Builder() {}

        /**
         * Where replies are generated; default a new daemon thread per request. {@code Runnable::run} generates
         * in the thread that calls {@code chat}.
         */
        public Builder streamingExecutor(Executor executor) {
            this.executor = Objects.requireNonNull(executor, "executor");
            return this;
        }

        /**
         * Checks the settings, loads the model when given a path and creates the first session (what it throws:
         * {@link LlamaChatModelBase.Builder}).
         */
        public LlamaStreamingChatModel build() {
            return new LlamaStreamingChatModel(this);
        }
    }
}
