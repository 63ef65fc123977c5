package dev.llamaspec.langchain4j;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.Session;
import java.util.List;

/**
 * LangChain4j's {@link ChatModel} on a llamaspec model: each request generates its reply in the calling
 * thread, in a session of the model. What it maps, refuses and reports, its threads and sessions and who
 * closes the model: see {@link LlamaChatModelBase}.
 *
 * <pre>{@code
 * try (LlamaChatModel model = LlamaChatModel.builder().modelPath(Path.of("model.gguf"))
 *         .temperature(0.7).maxTokens(200).speculation(Speculation.auto()).build()) {
 *     Assistant assistant = AiServices.create(Assistant.class, model);
 *     String answer = assistant.chat("Tell me a story.");
 * }
 * }</pre>
 */
public final class LlamaChatModel extends LlamaChatModelBase implements ChatModel {

    private LlamaChatModel(Builder builder) {
        super(builder);
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Generates the reply in the calling thread.
     *
     * @throws dev.langchain4j.exception.UnsupportedFeatureException for what the engine cannot do (tools, ...)
     * @throws IllegalArgumentException for an out-of-range value or an unsupported JSON schema
     * @throws dev.llamaspec.LlamaException for a prompt longer than the context, or a template that refuses the
     *     messages
     * @throws IllegalStateException after {@link #close()}
     */
    @Override
    public ChatResponse doChat(ChatRequest request) {
        List<ChatMessage> messages = messages(request);
        GenerationOptions options = options(request);
        Session session = borrow();
        try {
            return response(session.chat(messages, options), options);
        } finally {
            giveBack(session);
        }
    }

    /** Builds a {@link LlamaChatModel}; see {@link LlamaChatModelBase.Builder} for the settings. */
    public static final class Builder extends LlamaChatModelBase.Builder<LlamaChatModel.Builder> {
        private Builder() {}

        /**
         * Checks the settings, loads the model when given a path and creates the first session (what it throws:
         * {@link LlamaChatModelBase.Builder}).
         */
        public LlamaChatModel build() {
            return new LlamaChatModel(this);
        }
    }
}
