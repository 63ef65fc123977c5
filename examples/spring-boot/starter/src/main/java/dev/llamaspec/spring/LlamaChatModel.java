package dev.llamaspec.spring;

import dev.llamaspec.ChatMessage;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.GenerationStats;
import dev.llamaspec.StopReason;
import dev.llamaspec.TextChunk;
import dev.llamaspec.TokenStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.messages.Message;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.metadata.ChatGenerationMetadata;
import org.springframework.ai.chat.metadata.ChatResponseMetadata;
import org.springframework.ai.chat.metadata.DefaultUsage;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.model.Generation;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.model.tool.StructuredOutputChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import reactor.core.publisher.Flux;
import reactor.core.publisher.FluxSink;
import reactor.core.scheduler.Schedulers;

/**
 * Spring AI's {@link ChatModel} on a llamaspec model: each call borrows a session from the
 * {@link SessionPool}, renders the messages with the model's chat template and generates the reply.
 *
 * <p>System, user and assistant messages map to {@link ChatMessage}s; tool messages, tool calls and
 * media are rejected with an {@link IllegalArgumentException}. Of the prompt's {@link ChatOptions} it
 * uses max tokens, temperature, top-k, top-p and stop sequences, and the configured defaults for the
 * rest (frequency and presence penalties are not supported and are ignored); a JSON Schema in
 * {@link StructuredOutputChatOptions} ({@link LlamaChatOptions}, which {@link #getOptions()}
 * returns) is enforced with a grammar. Usage metadata has the
 * prompt and generated token counts; the response metadata also carries the speculation statistics
 * under {@code llamaspec.*} keys.
 *
 * <p>{@link #stream(Prompt)} generates on a {@link Schedulers#boundedElastic()} thread and emits one
 * response per step, then a last one with an empty text, the finish reason and the usage. Cancelling
 * the subscription cancels the generation and returns the session to the pool.
 */
public class LlamaChatModel implements ChatModel {
    private final SessionPool pool;
    private final GenerationOptions defaults;
    private final String modelName;

    /**
     * @param defaults the options used where a prompt's options leave a value unset
     */
    public LlamaChatModel(SessionPool pool, GenerationOptions defaults) {
        this.pool = Objects.requireNonNull(pool, "pool");
        this.defaults = Objects.requireNonNull(defaults, "defaults");
        this.modelName = ModelNames.of(pool.model());
    }

    @Override
    public ChatResponse call(Prompt prompt) {
        List<ChatMessage> messages = toChatMessages(prompt.getInstructions());
        GenerationOptions options = toGenerationOptions(prompt.getOptions());
        try (PooledSession pooled = pool.borrow()) {
            dev.llamaspec.Generation generation = pooled.session().chat(messages, options);
            return finalResponse(newId(), generation.text(), generation, options);
        }
    }

    @Override
    public Flux<ChatResponse> stream(Prompt prompt) {
        return Flux.<ChatResponse>create(sink -> streamInto(prompt, sink)).subscribeOn(Schedulers.boundedElastic());
    }

    private void streamInto(Prompt prompt, FluxSink<ChatResponse> sink) {
        List<ChatMessage> messages;
        GenerationOptions options;
        PooledSession pooled;
        try {
            messages = toChatMessages(prompt.getInstructions());
            options = toGenerationOptions(prompt.getOptions());
            pooled = pool.borrow();
        } catch (RuntimeException e) {
            sink.error(e);
            return;
        }
        sink.onCancel(pooled::cancel);
        String id = newId();
        ChatResponse last;
        try (PooledSession held = pooled; TokenStream stream = held.session().chatStream(messages, options)) {
            for (TextChunk chunk : stream) {
                if (sink.isCancelled()) {
                    return; // closing the stream cancels the generation, then the session goes back
                }
                sink.next(new ChatResponse(List.of(new Generation(new AssistantMessage(chunk.text()))),
                        ChatResponseMetadata.builder().id(id).model(modelName).build()));
            }
            last = finalResponse(id, "", stream.result(), options);
        } catch (RuntimeException e) {
            sink.error(e);
            return;
        }
        // the session is back in the pool before the stream ends: a caller that starts the next
        // request on completion finds it free
        sink.next(last);
        sink.complete();
    }

    @Override
    public ChatOptions getOptions() {
        return LlamaChatOptions.builder().model(modelName).maxTokens(defaults.maxTokens())
                .temperature((double) defaults.temperature()).topK(defaults.topK()).topP((double) defaults.topP())
                .stopSequences(defaults.stop()).build();
    }

    /**
     * The conversation as llamaspec messages.
     *
     * @throws IllegalArgumentException for an empty conversation, tool messages, tool calls or media
     */
    public static List<ChatMessage> toChatMessages(List<Message> instructions) {
        if (instructions == null || instructions.isEmpty()) {
            throw new IllegalArgumentException("the prompt has no messages");
        }
        List<ChatMessage> messages = new ArrayList<>(instructions.size());
        for (int i = 0; i < instructions.size(); i++) {
            Message message = instructions.get(i);
            String text = message.getText() == null ? "" : message.getText();
            switch (message.getMessageType()) {
                case SYSTEM:
                    messages.add(ChatMessage.system(text));
                    break;
                case USER:
                    if (message instanceof UserMessage && !((UserMessage) message).getMedia().isEmpty()) {
                        throw new IllegalArgumentException("message " + i + " has media; llamaspec models take text only");
                    }
                    messages.add(ChatMessage.user(text));
                    break;
                case ASSISTANT:
                    if (message instanceof AssistantMessage && ((AssistantMessage) message).hasToolCalls()) {
                        throw new IllegalArgumentException("message " + i + " has tool calls; llamaspec's ChatModel"
                                + " does not support tool calling");
                    }
                    messages.add(ChatMessage.assistant(text));
                    break;
                default:
                    throw new IllegalArgumentException("message " + i + " is a " + message.getMessageType()
                            + " message; llamaspec's ChatModel takes system, user and assistant messages only");
            }
        }
        return messages;
    }

    /**
     * The configured defaults overridden by the prompt's options.
     *
     * @throws IllegalArgumentException when an option is out of range
     */
    public GenerationOptions toGenerationOptions(ChatOptions options) {
        GenerationOptions.Builder builder = defaults.toBuilder();
        if (options != null) {
            if (options.getMaxTokens() != null) {
                builder.maxTokens(options.getMaxTokens());
            }
            if (options.getTemperature() != null) {
                builder.temperature(options.getTemperature().floatValue());
            }
            if (options.getTopK() != null) {
                builder.topK(options.getTopK());
            }
            if (options.getTopP() != null) {
                builder.topP(options.getTopP().floatValue());
            }
            if (options.getStopSequences() != null) {
                builder.stop(options.getStopSequences());
            }
            if (options instanceof StructuredOutputChatOptions structured && structured.getOutputSchema() != null) {
                // the schema is enforced: the reply is JSON valid against it (an unsupported schema is refused)
                builder.jsonSchema(structured.getOutputSchema());
            }
        }
        return builder.build();
    }

    private ChatResponse finalResponse(String id, String text, dev.llamaspec.Generation generation,
            GenerationOptions options) {
        GenerationStats stats = generation.stats();
        ChatGenerationMetadata generationMetadata = ChatGenerationMetadata.builder()
                .finishReason(finishReason(generation.stopReason())).build();
        ChatResponseMetadata metadata = ChatResponseMetadata.builder()
                .id(id)
                .model(modelName)
                .usage(new DefaultUsage(stats.promptTokens(), stats.generatedTokens()))
                .keyValue("llamaspec.stopReason", generation.stopReason().name())
                .keyValue("llamaspec.speculation", options.speculation().kind().name())
                .keyValue("llamaspec.steps", stats.steps())
                .keyValue("llamaspec.tokensPerStep", stats.tokensPerStep())
                .keyValue("llamaspec.draftedTokens", stats.draftedTokens())
                .keyValue("llamaspec.acceptedTokens", stats.acceptedTokens())
                .keyValue("llamaspec.tokensPerSecond", stats.tokensPerSecond())
                .build();
        return new ChatResponse(List.of(new Generation(new AssistantMessage(text), generationMetadata)), metadata);
    }

    /** Spring AI's finish reasons: STOP, LENGTH, or CANCELLED. */
    static String finishReason(StopReason reason) {
        switch (reason) {
            case END_OF_TEXT:
            case STOP_STRING:
            case GRAMMAR:
                return "STOP";
            case MAX_TOKENS:
            case CONTEXT_FULL:
                return "LENGTH";
            default:
                return "CANCELLED";
        }
    }

    private static String newId() {
        return "llamaspec-" + UUID.randomUUID();
    }

    @Override
    public String toString() {
        return "LlamaChatModel{" + modelName + ", " + pool + "}";
    }
}
