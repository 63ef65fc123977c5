package dev.llamaspec.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.TokenStream;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.Generation;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.StopReason;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The adapters through LangChain4j's own high-level API, AI Services. */
class AiServicesTest {
    interface Storyteller {
        String tell(String prompt);
    }

    interface StreamingStoryteller {
        TokenStream tell(String prompt);
    }

    enum Mood { HAPPY, SAD, SLEEPY }

    /** LangChain4j makes a field required only when annotated so; without, the grammar allows {@code {}}. */
    record Cat(@JsonProperty(required = true) Mood mood, @JsonProperty(required = true) int legs,
            @JsonProperty(required = true) Boolean hungry) {}

    interface CatReporter {
        Cat describe(String text);
    }

    private static final String PROMPT = "Tell me a story about a dog.";

    private static LlamaModel model;
    private static LlamaChatModel chat;
    private static LlamaStreamingChatModel streaming;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModel.path(), TestModel.ONE_THREAD);
        // one model, two adapters with the same settings
        chat = LlamaChatModel.builder().model(model).sessionOptions(LlamaChatModelTest.STRICT).temperature(0)
                .maxTokens(200).build();
        streaming = LlamaStreamingChatModel.builder().model(model).sessionOptions(LlamaChatModelTest.STRICT)
                .temperature(0).maxTokens(200).build();
    }

    @AfterAll
    static void close() {
        chat.close();
        streaming.close();
        model.close();
    }

    /** The Java API's greedy answer to the one user message AI Services sends. */
    private static Generation reference(int maxTokens) {
        return LlamaChatModelTest.reference(model, List.of(ChatMessage.user(PROMPT)), TestModel.greedy(maxTokens));
    }

    @Test
    void aiServiceAnswersAsTheJavaApi() {
        Storyteller storyteller = AiServices.create(Storyteller.class, chat);
        String expected = reference(200).text();
        assertFalse(expected.isEmpty());
        assertEquals(expected, storyteller.tell(PROMPT));
    }

    @Test
    void tokenStreamStreamsTheSameAnswer() throws Exception {
        StreamingStoryteller storyteller = AiServices.builder(StreamingStoryteller.class).streamingChatModel(streaming).build();
        List<String> partials = new CopyOnWriteArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        storyteller.tell(PROMPT)
                .onPartialResponse(partials::add)
                .onCompleteResponse(done::complete)
                .onError(done::completeExceptionally)
                .start();
        ChatResponse response = done.get(60, TimeUnit.SECONDS);

        Generation expected = reference(200);
        assertTrue(partials.size() >= 2, partials.toString());
        assertEquals(expected.text(), String.join("", partials));
        assertEquals(expected.text(), response.aiMessage().text());
        assertEquals(expected.stats().generatedTokens(), response.tokenUsage().outputTokenCount());
    }

    @Test
    void tokenStreamCancelsThroughTheContextsHandle() throws Exception {
        StreamingStoryteller storyteller = AiServices.builder(StreamingStoryteller.class).streamingChatModel(streaming).build();
        List<String> events = new CopyOnWriteArrayList<>();
        CompletableFuture<LlamaStreamingHandle> handle = new CompletableFuture<>();
        storyteller.tell(PROMPT)
                .onPartialResponseWithContext((partial, context) -> {
                    events.add("partial");
                    context.streamingHandle().cancel();
                    handle.complete((LlamaStreamingHandle) context.streamingHandle());
                })
                .onCompleteResponse(response -> events.add("complete"))
                .onError(error -> events.add("error"))
                .start();
        Generation generation = handle.get(60, TimeUnit.SECONDS).generation().get(60, TimeUnit.SECONDS);

        assertEquals(StopReason.CANCELLED, generation.stopReason());
        assertTrue(generation.stats().generatedTokens() < reference(200).stats().generatedTokens() / 4,
                generation.stats().toString());
        assertEquals(List.of("partial"), events);
    }

    @Test
    void aRecordReplyIsJsonOfItsSchema() {
        // a story model asked for a record in the prompt alone would tell a story; the schema's grammar makes it JSON
        CatReporter reporter = AiServices.create(CatReporter.class, chat);
        for (String text : List.of("Tell me about a cat.", "Hi")) {
            Cat cat = reporter.describe(text);
            assertNotNull(cat);
            assertNotNull(cat.mood(), cat.toString());
            assertNotNull(cat.hungry(), cat.toString());
        }
    }
}
