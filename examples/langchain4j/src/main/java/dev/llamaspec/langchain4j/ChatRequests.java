package dev.llamaspec.langchain4j;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.internal.JsonSchemaElementUtils;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.request.json.JsonSchema;
import dev.langchain4j.model.output.FinishReason;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.StopReason;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/** LangChain4j's requests in the Java API's terms, and the engine's outcomes in LangChain4j's. */
final class ChatRequests {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ChatRequests() {}

    /**
     * The conversation as the Java API's messages: system, user (text only) and AI messages (without tool calls).
     *
     * @throws UnsupportedFeatureException for tool results, tool calls, custom messages and content other than text
     * @throws IllegalArgumentException for no messages
     */
    static List<ChatMessage> toChatMessages(List<dev.langchain4j.data.message.ChatMessage> messages) {
        if (messages == null || messages.isEmpty()) {
            throw new IllegalArgumentException("the request has no messages");
        }
        List<ChatMessage> result = new ArrayList<>(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            dev.langchain4j.data.message.ChatMessage message = messages.get(i);
            switch (message.type()) {
                case SYSTEM:
                    result.add(ChatMessage.system(((SystemMessage) message).text()));
                    break;
                case USER:
                    result.add(ChatMessage.user(userText(i, (UserMessage) message)));
                    break;
                case AI:
                    AiMessage ai = (AiMessage) message;
                    if (ai.hasToolExecutionRequests()) {
                        throw new UnsupportedFeatureException("message " + i + " is an AI message with tool calls;"
                                + " llamaspec's chat models do not support tools");
                    }
                    result.add(ChatMessage.assistant(ai.text() == null ? "" : ai.text()));
                    break;
                default:
                    throw new UnsupportedFeatureException("message " + i + " is a " + message.type() + " message;"
                            + " llamaspec's chat models take system, user and AI messages only (no tools)");
            }
        }
        return result;
    }

    /** A user message's text: its text contents, one per line. */
    private static String userText(int index, UserMessage message) {
        if (message.hasSingleText()) {
            return message.singleText();
        }
        List<String> texts = new ArrayList<>();
        for (Content content : message.contents()) {
            if (!(content instanceof TextContent text)) {
                throw new UnsupportedFeatureException("message " + index + " has " + content.type() + " content;"
                        + " llamaspec's chat models take text only");
            }
            texts.add(text.text());
        }
        return String.join("\n", texts);
    }

    /**
     * {@code defaults} overridden by the request's parameters: max output tokens, temperature, top-p, top-k,
     * stop sequences and the response format (JSON, or JSON valid against a schema: enforced with a grammar).
     *
     * @param modelName the model's name; a request naming another model is refused
     * @throws UnsupportedFeatureException for tools, a required tool choice, frequency or presence penalties
     *     other than 0, or another model's name
     * @throws IllegalArgumentException for a value out of the engine's range, naming the option, or a JSON
     *     schema the grammar converter does not support, naming the keyword
     */
    static GenerationOptions toGenerationOptions(ChatRequestParameters parameters, GenerationOptions defaults,
            String modelName) {
        if (parameters == null) {
            return defaults;
        }
        List<ToolSpecification> tools = parameters.toolSpecifications();
        if (tools != null && !tools.isEmpty()) {
            throw new UnsupportedFeatureException("tools are not supported by llamaspec's chat models; the request"
                    + " has " + tools.size() + " tool specification(s): "
                    + tools.stream().map(ToolSpecification::name).collect(Collectors.joining(", ")));
        }
        if (parameters.toolChoice() == ToolChoice.REQUIRED) {
            throw new UnsupportedFeatureException("toolChoice REQUIRED: llamaspec's chat models do not support tools");
        }
        refusePenalty("frequencyPenalty", parameters.frequencyPenalty());
        refusePenalty("presencePenalty", parameters.presencePenalty());
        if (parameters.modelName() != null && !parameters.modelName().equals(modelName)) {
            throw new UnsupportedFeatureException("the request asks for model '" + parameters.modelName()
                    + "'; this chat model serves '" + modelName + "' only");
        }
        GenerationOptions.Builder builder = defaults.toBuilder();
        if (parameters.maxOutputTokens() != null) {
            builder.maxTokens(parameters.maxOutputTokens());
        }
        if (parameters.temperature() != null) {
            builder.temperature(parameters.temperature().floatValue());
        }
        if (parameters.topP() != null) {
            builder.topP(parameters.topP().floatValue());
        }
        if (parameters.topK() != null) {
            builder.topK(parameters.topK());
        }
        if (parameters.stopSequences() != null) {
            builder.stop(parameters.stopSequences());
        }
        ResponseFormat format = parameters.responseFormat();
        if (format != null && format.type() == ResponseFormatType.JSON) {
            if (format.jsonSchema() == null) {
                builder.jsonObject();
            } else {
                builder.jsonSchema(schemaText(format.jsonSchema()));
            }
        }
        return builder.build();
    }

    private static void refusePenalty(String name, Double value) {
        if (value != null && value != 0) {
            throw new UnsupportedFeatureException(name + " " + value + " is not supported by llamaspec's chat"
                    + " models; the engine has a repeat penalty (GenerationOptions.repeatPenalty, set on the builder)");
        }
    }

    /** LangChain4j's schema as JSON Schema text, as LangChain4j's own providers send it. */
    static String schemaText(JsonSchema schema) {
        if (schema.rootElement() == null) {
            throw new IllegalArgumentException("the response format's JSON schema '" + schema.name()
                    + "' has no root element");
        }
        try {
            return JSON.writeValueAsString(JsonSchemaElementUtils.toMap(schema.rootElement()));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("the response format's JSON schema '" + schema.name()
                    + "' cannot be written as JSON: " + e.getMessage(), e);
        }
    }

    /** LangChain4j's finish reason: STOP, LENGTH, or OTHER for a cancelled generation. */
    static FinishReason finishReason(StopReason reason) {
        switch (reason) {
            case END_OF_TEXT:
            case STOP_STRING:
            case GRAMMAR:
                return FinishReason.STOP;
            case MAX_TOKENS:
            case CONTEXT_FULL:
                return FinishReason.LENGTH;
            default:
                return FinishReason.OTHER;
        }
    }
}
