package dev.llamaspec.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llamaspec.ChatMessage;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.client.AdvisorParams;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.messages.Message;
import org.springframework.ai.chat.messages.SystemMessage;
import org.springframework.ai.chat.messages.ToolResponseMessage;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import reactor.core.Disposable;

class LlamaChatModelTest {
    private static final List<Message> CONVERSATION = List.of(
            new SystemMessage("You tell short stories."),
            new UserMessage("Tell me about a cat."),
            new AssistantMessage("Once upon a time there was a cat."),
            new UserMessage("What did the cat do?"));
    private static final List<ChatMessage> SAME_CONVERSATION = List.of(
            ChatMessage.system("You tell short stories."),
            ChatMessage.user("Tell me about a cat."),
            ChatMessage.assistant("Once upon a time there was a cat."),
            ChatMessage.user("What did the cat do?"));

    private static LlamaModel model;
    private static SessionPool pool;
    private static LlamaChatModel chatModel;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModel.path(), ModelOptions.builder().threads(1).build());
        pool = new SessionPool(model, SessionOptions.defaults(), 2, Duration.ofSeconds(10));
        chatModel = new LlamaChatModel(pool, GenerationOptions.builder().maxTokens(200).build());
    }

    @AfterAll
    static void close() {
        pool.close();
        model.close();
    }

    /** What the Java API answers to the same conversation, greedily. */
    private static Generation reference(int maxTokens) {
        try (Session session = model.newSession()) {
            return session.chat(SAME_CONVERSATION, GenerationOptions.builder().temperature(0).maxTokens(maxTokens).build());
        }
    }

    private static Prompt greedyPrompt(int maxTokens) {
        return new Prompt(CONVERSATION, ChatOptions.builder().temperature(0.0).maxTokens(maxTokens).build());
    }

    @Test
    void callAnswersAsTheJavaApiDoes() {
        Generation expected = reference(40);
        ChatResponse response = chatModel.call(greedyPrompt(40));

        assertThat(response.getResult().getOutput().getText()).isEqualTo(expected.text()).isNotEmpty();
        assertThat(response.getResult().getMetadata().getFinishReason())
                .isEqualTo(LlamaChatModel.finishReason(expected.stopReason()));
        assertThat(response.getMetadata().getUsage().getPromptTokens()).isEqualTo(expected.stats().promptTokens());
        assertThat(response.getMetadata().getUsage().getCompletionTokens())
                .isEqualTo(expected.stats().generatedTokens());
        assertThat(response.getMetadata().getUsage().getTotalTokens())
                .isEqualTo(expected.stats().promptTokens() + expected.stats().generatedTokens());
        assertThat(response.getMetadata().getModel()).isEqualTo(ModelNames.of(model));
        assertThat((Object) response.getMetadata().get("llamaspec.speculation")).isEqualTo("NONE");
        assertThat((Object) response.getMetadata().get("llamaspec.steps")).isEqualTo(expected.stats().steps());
        assertThat(pool.available()).isEqualTo(pool.size());
    }

    @Test
    void streamChunksJoinToTheSameText() {
        Generation expected = reference(40);
        List<ChatResponse> responses = chatModel.stream(greedyPrompt(40)).collectList().block(Duration.ofSeconds(30));

        assertThat(responses).hasSizeGreaterThan(2);
        String text = responses.stream().map(r -> r.getResult().getOutput().getText()).collect(Collectors.joining());
        assertThat(text).isEqualTo(expected.text());
        ChatResponse last = responses.get(responses.size() - 1);
        assertThat(last.getResult().getMetadata().getFinishReason())
                .isEqualTo(LlamaChatModel.finishReason(expected.stopReason()));
        assertThat(last.getMetadata().getUsage().getCompletionTokens()).isEqualTo(expected.stats().generatedTokens());
        assertThat(responses.get(0).getResult().getMetadata().getFinishReason()).isNull();
        assertThat(pool.available()).isEqualTo(pool.size());
    }

    @Test
    void cancellingTheStreamEndsTheGenerationAndReturnsTheSession() throws Exception {
        // a generation to the end of a 4096-token context, which the cancellation cuts short
        try (SessionPool longPool = new SessionPool(model, SessionOptions.builder().contextSize(4096).build(), 1,
                Duration.ofSeconds(10))) {
            LlamaChatModel longChat = new LlamaChatModel(longPool, GenerationOptions.builder().maxTokens(4000).build());
            java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(3);
            Disposable subscription = longChat.stream(greedyPrompt(4000)).subscribe(r -> started.countDown());
            assertThat(started.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            assertThat(longPool.available()).isZero();
            subscription.dispose();

            long deadline = System.nanoTime() + Duration.ofSeconds(2).toNanos();
            while (longPool.available() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertThat(longPool.available()).as("session back in the pool").isEqualTo(1);
            try (PooledSession next = longPool.borrow(Duration.ZERO)) {
                assertThat(next.session().isGenerating()).isFalse();
            }
        }
    }

    enum Mood { HAPPY, SAD, SLEEPY }

    record Cat(Mood mood, int legs, boolean hungry) {}

    @Test
    void chatClientStructuredOutputIsEnforcedByTheSchema() {
        ChatClient client = ChatClient.builder(chatModel).build();
        for (String question : List.of("Tell me about a cat.", "What is the weather?", "Hi")) {
            // native structured output: the schema reaches the model through LlamaChatOptions (the model's
            // default options, or given ones) and is enforced; a story model asked only in the prompt
            // writes a story
            Cat sampled = client.prompt().user(question).advisors(AdvisorParams.ENABLE_NATIVE_STRUCTURED_OUTPUT).call()
                    .entity(Cat.class);
            Cat cat = client.prompt().user(question).options(LlamaChatOptions.builder().temperature(0.0))
                    .advisors(AdvisorParams.ENABLE_NATIVE_STRUCTURED_OUTPUT).call().entity(Cat.class);
            assertThat(sampled).isNotNull();
            assertThat(cat).isNotNull();
            assertThat(cat.mood()).isNotNull();
        }
        // the model's default options carry the schema slot; mutate() keeps the schema and the rest
        LlamaChatOptions defaults = (LlamaChatOptions) chatModel.getOptions();
        LlamaChatOptions options = defaults.mutate().outputSchema("{\"type\": \"boolean\"}").build();
        assertThat(defaults.getOutputSchema()).isNull();
        assertThat(options.mutate().build()).isEqualTo(options);
        assertThat(options.getMaxTokens()).isEqualTo(defaults.getMaxTokens());
        assertThat(options.getOutputSchema()).isEqualTo("{\"type\": \"boolean\"}");
        ChatResponse yesNo = chatModel.call(new Prompt(CONVERSATION, options));
        assertThat(yesNo.getResult().getOutput().getText().strip()).isIn("true", "false");
        // a schema the converter does not support is refused, naming the keyword
        LlamaChatOptions pattern = options.mutate().outputSchema("{\"type\": \"string\", \"pattern\": \"^a\"}").build();
        assertThatThrownBy(() -> chatModel.call(new Prompt(CONVERSATION, pattern)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'pattern' is not supported");
        assertThat(pool.available()).isEqualTo(pool.size());
    }

    @Test
    void embeddingModelGivesTheJavaApisVectors() {
        LlamaEmbeddingModel embeddings = new LlamaEmbeddingModel(model, dev.llamaspec.EmbeddingOptions.defaults());
        assertThat(embeddings.dimensions()).isEqualTo(model.info().embeddingSize());
        org.springframework.ai.embedding.EmbeddingResponse response = embeddings.embedForResponse(
                List.of("Once upon a time", "The dog"));
        assertThat(response.getResults()).hasSize(2);
        assertThat(response.getResults().get(1).getIndex()).isEqualTo(1);
        assertThat(response.getResults().get(0).getOutput()).containsExactly(model.embed("Once upon a time"),
                org.assertj.core.data.Offset.offset(1e-6f));
        assertThat(response.getMetadata().getUsage().getPromptTokens())
                .isEqualTo(model.tokenize("Once upon a time").length + model.tokenize("The dog").length);
        org.springframework.ai.document.Document document = new org.springframework.ai.document.Document("The dog");
        assertThat(embeddings.embed(document)).containsExactly(model.embed(document.getFormattedContent(
                org.springframework.ai.document.MetadataMode.EMBED)), org.assertj.core.data.Offset.offset(1e-6f));
        assertThatThrownBy(() -> embeddings.embed("")).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("text 0 is empty");
    }

    @Test
    void mapsRolesAndRejectsWhatItCannotRender() {
        assertThat(LlamaChatModel.toChatMessages(CONVERSATION)).isEqualTo(SAME_CONVERSATION);
        assertThatThrownBy(() -> LlamaChatModel.toChatMessages(List.of()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no messages");
        ToolResponseMessage tool = ToolResponseMessage.builder()
                .responses(List.of(new ToolResponseMessage.ToolResponse("1", "clock", "noon"))).build();
        assertThatThrownBy(() -> LlamaChatModel.toChatMessages(List.of(new UserMessage("time?"), tool)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("message 1 is a TOOL message");
        assertThatThrownBy(() -> chatModel.call(new Prompt(List.of(tool))))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void optionsCombineAsSpringAiLaysThemOver() {
        // ChatClient builds a request's options as model.getOptions().mutate().combineWith(request builder)
        LlamaChatOptions combined = ((LlamaChatOptions) chatModel.getOptions()).mutate()
                .combineWith(LlamaChatOptions.builder().maxTokens(9).outputSchema("{\"type\": \"boolean\"}")).build();
        assertThat(combined.getMaxTokens()).isEqualTo(9);
        assertThat(combined.getTemperature()).isEqualTo(chatModel.getOptions().getTemperature());
        assertThat(combined.getOutputSchema()).isEqualTo("{\"type\": \"boolean\"}");
        // a builder without a schema keeps the one already there; plain ChatOptions carry none
        assertThat(combined.mutate().combineWith(LlamaChatOptions.builder().topK(3)).build().getOutputSchema())
                .isEqualTo("{\"type\": \"boolean\"}");
        assertThat(LlamaChatOptions.from(ChatOptions.builder().topK(3).build()).getOutputSchema()).isNull();
        assertThat(LlamaChatOptions.from(combined)).isSameAs(combined);
        assertThat(combined.mutate().stopSequences(List.of("x")).build().getStopSequences()).containsExactly("x");
    }

    @Test
    void promptOptionsOverrideTheDefaults() {
        GenerationOptions options = chatModel.toGenerationOptions(ChatOptions.builder().maxTokens(7).temperature(0.5)
                .topK(3).topP(0.5).stopSequences(List.of("\n")).build());
        assertThat(options.maxTokens()).isEqualTo(7);
        assertThat(options.temperature()).isEqualTo(0.5f);
        assertThat(options.topK()).isEqualTo(3);
        assertThat(options.topP()).isEqualTo(0.5f);
        assertThat(options.stop()).containsExactly("\n");
        assertThat(chatModel.toGenerationOptions(null).maxTokens()).isEqualTo(200);
        assertThatThrownBy(() -> chatModel.toGenerationOptions(ChatOptions.builder().temperature(-1.0).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("temperature");
    }
}
