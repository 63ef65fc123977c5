package dev.llamaspec.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.request.json.JsonRawSchema;
import dev.langchain4j.model.chat.request.json.JsonSchema;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.StopReason;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** ChatModel.chat(ChatRequest) against what the Java API generates for the same conversation and options. */
class LlamaChatModelTest {
    static final List<dev.langchain4j.data.message.ChatMessage> CONVERSATION = List.of(
            SystemMessage.from("You tell short stories."),
            UserMessage.from("Tell me about a cat."),
            AiMessage.from("Once upon a time there was a cat."),
            UserMessage.from("What did the cat do?"));
    static final List<ChatMessage> SAME_CONVERSATION = List.of(
            ChatMessage.system("You tell short stories."),
            ChatMessage.user("Tell me about a cat."),
            ChatMessage.assistant("Once upon a time there was a cat."),
            ChatMessage.user("What did the cat do?"));
    /**
     * Strict numerics in the adapter's sessions and the reference's: a pooled session reuses its KV cache and
     * evaluates only new tokens, which with flash attention rounds differently from a fresh session's
     * evaluation and could flip a near-tie; strict numerics make both evaluate alike.
     */
    static final SessionOptions STRICT = SessionOptions.builder().strictNumerics(true).build();

    private static LlamaModel model;
    private static LlamaChatModel chat;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModel.path(), TestModel.ONE_THREAD);
        chat = LlamaChatModel.builder().model(model).sessionOptions(STRICT).temperature(0).maxTokens(60).build();
    }

    @AfterAll
    static void close() {
        chat.close();
        model.close();
    }

    /** What the Java API answers to the conversation. */
    static Generation reference(LlamaModel model, List<ChatMessage> messages, GenerationOptions options) {
        try (Session session = model.newSession(STRICT)) {
            return session.chat(messages, options);
        }
    }

    private static Generation reference(GenerationOptions options) {
        return reference(model, SAME_CONVERSATION, options);
    }

    private static ChatRequest.Builder request() {
        return ChatRequest.builder().messages(CONVERSATION);
    }

    private static LlamaChatResponseMetadata metadata(ChatResponse response) {
        return (LlamaChatResponseMetadata) response.metadata();
    }

    @Test
    void replyAndUsageAreTheJavaApis() {
        Generation expected = reference(TestModel.greedy(60));
        ChatResponse response = chat.chat(request().build());

        assertFalse(expected.text().isEmpty());
        assertEquals(expected.text(), response.aiMessage().text());
        assertEquals(expected.stats().promptTokens(), response.tokenUsage().inputTokenCount());
        assertEquals(expected.stats().generatedTokens(), response.tokenUsage().outputTokenCount());
        assertEquals(expected.stats().promptTokens() + expected.stats().generatedTokens(),
                response.tokenUsage().totalTokenCount());
        assertEquals(ChatRequests.finishReason(expected.stopReason()), response.finishReason());
        assertEquals(expected.stopReason(), metadata(response).stopReason());
        assertEquals(expected.stats().steps(), metadata(response).stats().steps());
        assertEquals(ModelSource.nameOf(model), response.metadata().modelName());
        assertTrue(response.id().startsWith("llamaspec-"), response.id());
    }

    @Test
    void maxOutputTokensEndsWithLength() {
        Generation expected = reference(TestModel.greedy(5));
        ChatResponse response = chat.chat(request().maxOutputTokens(5).build());

        assertEquals(StopReason.MAX_TOKENS, expected.stopReason());
        assertEquals(FinishReason.LENGTH, response.finishReason());
        assertEquals(StopReason.MAX_TOKENS, metadata(response).stopReason());
        assertEquals(5, response.tokenUsage().outputTokenCount());
        assertEquals(expected.text(), response.aiMessage().text());
    }

    @Test
    void stopSequencesEndTheReplyBeforeThem() {
        String full = reference(TestModel.greedy(60)).text();
        String[] words = full.trim().split("\\s+");
        assertTrue(words.length > 6, full);
        String stop = " " + words[words.length / 2]; // a word from the middle of the reply
        Generation expected = reference(TestModel.greedy(60).toBuilder().stop(stop).build());
        assertEquals(StopReason.STOP_STRING, expected.stopReason());
        assertEquals(full.substring(0, full.indexOf(stop)), expected.text());

        ChatResponse response = chat.chat(request().stopSequences(List.of(stop)).build());
        assertEquals(expected.text(), response.aiMessage().text());
        assertEquals(FinishReason.STOP, response.finishReason());
        assertEquals(StopReason.STOP_STRING, metadata(response).stopReason());
        assertEquals(expected.stats().generatedTokens(), response.tokenUsage().outputTokenCount());
    }

    @Test
    void samplingParametersReachTheEngine() {
        GenerationOptions sampled = GenerationOptions.builder().seed(42).maxTokens(40).temperature(1.5f).topK(20)
                .topP(0.9f).build();
        GenerationOptions builderDefaults = GenerationOptions.builder().seed(42).maxTokens(40).build();
        Generation expected = reference(sampled);
        // the parameters change this reply, so a request whose parameters were dropped would not match
        assertNotEquals(reference(builderDefaults).text(), expected.text());

        try (LlamaChatModel seeded = LlamaChatModel.builder().model(model).sessionOptions(STRICT).seed(42)
                .maxTokens(40).build()) {
            ChatResponse response = seeded.chat(request().temperature(1.5).topK(20).topP(0.9).build());
            assertEquals(expected.text(), response.aiMessage().text());
        }
    }

    @Test
    void jsonResponseFormatsAreEnforcedWithAGrammar() throws Exception {
        JsonSchema schema = JsonSchema.builder().name("Cat").rootElement(JsonObjectSchema.builder()
                .addEnumProperty("mood", List.of("HAPPY", "SAD"))
                .addIntegerProperty("legs")
                .addBooleanProperty("hungry")
                .required("mood", "legs", "hungry")
                .build()).build();
        String sameSchema = "{\"type\": \"object\", \"properties\": {\"mood\": {\"type\": \"string\", \"enum\": [\"HAPPY\", \"SAD\"]},"
                + " \"legs\": {\"type\": \"integer\"}, \"hungry\": {\"type\": \"boolean\"}},"
                + " \"required\": [\"mood\", \"legs\", \"hungry\"]}";
        Generation expected = reference(TestModel.greedy(200).toBuilder().jsonSchema(sameSchema).build());
        ChatResponse response = chat.chat(request().maxOutputTokens(200)
                .responseFormat(ResponseFormat.builder().type(ResponseFormatType.JSON).jsonSchema(schema).build()).build());

        assertEquals(expected.text(), response.aiMessage().text());
        JsonNode cat = new ObjectMapper().readTree(response.aiMessage().text());
        assertTrue(List.of("HAPPY", "SAD").contains(cat.get("mood").asText()), cat.toString());
        assertTrue(cat.get("legs").isIntegralNumber(), cat.toString());
        assertTrue(cat.get("hungry").isBoolean(), cat.toString());
        assertEquals(FinishReason.STOP, response.finishReason());

        Generation anyObject = reference(TestModel.greedy(30).toBuilder().jsonObject().build());
        ChatResponse json = chat.chat(request().maxOutputTokens(30).responseFormat(ResponseFormat.JSON).build());
        assertEquals(anyObject.text(), json.aiMessage().text());
        assertTrue(json.aiMessage().text().startsWith("{"), json.aiMessage().text());
    }

    @Test
    void refusesWhatTheEngineCannotDo() {
        ToolSpecification clock = ToolSpecification.builder().name("clock").description("the time").build();
        UnsupportedFeatureException tools = assertThrows(UnsupportedFeatureException.class,
                () -> chat.chat(request().toolSpecifications(clock).build()));
        assertTrue(tools.getMessage().contains("tool") && tools.getMessage().contains("clock"), tools.getMessage());
        for (String penalty : List.of("frequencyPenalty", "presencePenalty")) {
            ChatRequest.Builder builder = request();
            if (penalty.equals("frequencyPenalty")) {
                builder.frequencyPenalty(0.5);
            } else {
                builder.presencePenalty(0.5);
            }
            UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class, () -> chat.chat(builder.build()));
            assertTrue(e.getMessage().contains(penalty), e.getMessage());
        }
        UnsupportedFeatureException image = assertThrows(UnsupportedFeatureException.class, () -> chat.chat(
                UserMessage.from(TextContent.from("What is this?"), ImageContent.from("https://example.com/cat.png"))));
        assertTrue(image.getMessage().contains("IMAGE"), image.getMessage());
        List<dev.langchain4j.data.message.ChatMessage> withToolCall = new ArrayList<>(CONVERSATION);
        withToolCall.add(AiMessage.from(ToolExecutionRequest.builder().id("1").name("clock").arguments("{}").build()));
        withToolCall.add(ToolExecutionResultMessage.from("1", "clock", "noon"));
        UnsupportedFeatureException toolCall = assertThrows(UnsupportedFeatureException.class,
                () -> chat.chat(withToolCall));
        assertTrue(toolCall.getMessage().contains("message 4") && toolCall.getMessage().contains("tool calls"),
                toolCall.getMessage());
        UnsupportedFeatureException otherModel = assertThrows(UnsupportedFeatureException.class,
                () -> chat.chat(request().modelName("gpt-4o").build()));
        assertTrue(otherModel.getMessage().contains("gpt-4o"), otherModel.getMessage());

        IllegalArgumentException temperature = assertThrows(IllegalArgumentException.class,
                () -> chat.chat(request().temperature(-1.0).build()));
        assertTrue(temperature.getMessage().contains("temperature"), temperature.getMessage());
        JsonSchema pattern = JsonSchema.builder().name("code").rootElement(JsonRawSchema.from(
                "{\"type\": \"string\", \"pattern\": \"^[A-Z]+$\"}")).build();
        IllegalArgumentException unsupportedSchema = assertThrows(IllegalArgumentException.class,
                () -> chat.chat(request().responseFormat(ResponseFormat.builder().type(ResponseFormatType.JSON)
                        .jsonSchema(pattern).build()).build()));
        assertTrue(unsupportedSchema.getMessage().contains("pattern"), unsupportedSchema.getMessage());

        // a penalty of 0 is no penalty, which the engine does: accepted
        ChatResponse zero = chat.chat(request().frequencyPenalty(0.0).presencePenalty(0.0).maxOutputTokens(5).build());
        assertEquals(reference(TestModel.greedy(5)).text(), zero.aiMessage().text());
    }

    @Test
    void concurrentRequestsEachGenerateInASessionOfTheirOwn() throws Exception {
        String expected = reference(TestModel.greedy(30)).text();
        ExecutorService threads = Executors.newFixedThreadPool(4);
        try {
            List<Future<String>> answers = new ArrayList<>();
            for (int i = 0; i < 4; i++) { // twice as many as the default 2 sessions: two wait for a free one
                answers.add(threads.submit(() -> chat.chat(request().maxOutputTokens(30).build()).aiMessage().text()));
            }
            for (Future<String> answer : answers) {
                assertEquals(expected, answer.get(120, TimeUnit.SECONDS));
            }
        } finally {
            threads.shutdownNow();
        }
    }

    @Test
    void defaultRequestParametersAreTheBuildersOptions() {
        assertEquals(0.0, chat.defaultRequestParameters().temperature());
        assertEquals(60, chat.defaultRequestParameters().maxOutputTokens());
        assertEquals(chat.defaultGenerationOptions().topK(), chat.defaultRequestParameters().topK());
        assertEquals(ModelSource.nameOf(model), chat.defaultRequestParameters().modelName());
    }
}
