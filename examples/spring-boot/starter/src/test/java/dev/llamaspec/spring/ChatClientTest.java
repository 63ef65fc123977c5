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
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.client.AdvisorParams;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.client.ChatClientRequest;
import org.springframework.ai.chat.client.ChatClientResponse;
import org.springframework.ai.chat.client.advisor.SimpleLoggerAdvisor;
import org.springframework.ai.chat.client.advisor.api.CallAdvisor;
import org.springframework.ai.chat.client.advisor.api.CallAdvisorChain;
import org.springframework.ai.chat.client.advisor.api.StreamAdvisor;
import org.springframework.ai.chat.client.advisor.api.StreamAdvisorChain;
import org.springframework.ai.chat.messages.Message;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.model.tool.StructuredOutputChatOptions;
import reactor.core.publisher.Flux;

/**
 * Spring AI's fluent {@link ChatClient} over {@link LlamaChatModel}: every answer is checked against
 * what the Java API gives for the same conversation and greedy options.
 */
class ChatClientTest {
    private static final String SYSTEM = "You tell short stories.";

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

    /** What the Java API answers, greedily. */
    private static Generation reference(int maxTokens, ChatMessage... messages) {
        try (Session session = model.newSession()) {
            return session.chat(List.of(messages), GenerationOptions.builder().temperature(0).maxTokens(maxTokens).build());
        }
    }

    private static ChatClient greedyClient(int maxTokens) {
        return ChatClient.builder(chatModel)
                .defaultOptions(LlamaChatOptions.builder().temperature(0.0).maxTokens(maxTokens)).build();
    }

    @Test
    void callWithDefaultOptionsAnswersAsTheJavaApiDoes() {
        Generation expected = reference(30, ChatMessage.user("Tell me about a cat."));
        ChatResponse response = greedyClient(30).prompt().user("Tell me about a cat.").call().chatResponse();

        assertThat(response.getResult().getOutput().getText()).isEqualTo(expected.text()).isNotEmpty();
        assertThat(response.getMetadata().getUsage().getPromptTokens()).isEqualTo(expected.stats().promptTokens());
        assertThat(response.getMetadata().getUsage().getCompletionTokens())
                .isEqualTo(expected.stats().generatedTokens());
        // the default of 30 tokens was the limit: the reply was cut there
        assertThat(expected.stats().generatedTokens()).isEqualTo(30);
        assertThat(response.getResult().getMetadata().getFinishReason()).isEqualTo("LENGTH");
        assertThat(pool.available()).isEqualTo(pool.size());
    }

    @Test
    void requestOptionsTakeThePlaceOfTheClientsDefaults() {
        // Spring AI 2 lays a request's options over the model's options (LlamaChatModel.getOptions()), in
        // place of the client's default options
        Generation expected = reference(7, ChatMessage.user("Tell me about a dog."));
        ChatResponse response = greedyClient(30).prompt().user("Tell me about a dog.")
                .options(LlamaChatOptions.builder().temperature(0.0).maxTokens(7)).call().chatResponse();
        assertThat(response.getResult().getOutput().getText()).isEqualTo(expected.text());
        assertThat(response.getMetadata().getUsage().getCompletionTokens()).isEqualTo(7);
    }

    @Test
    void systemPromptsReachTheModel() {
        Generation expected = reference(30, ChatMessage.system(SYSTEM), ChatMessage.user("What did the cat do?"));
        Generation withoutSystem = reference(30, ChatMessage.user("What did the cat do?"));
        assertThat(expected.text()).as("the system prompt changes the answer").isNotEqualTo(withoutSystem.text());

        String fromDefault = ChatClient.builder(chatModel).defaultSystem(SYSTEM)
                .defaultOptions(LlamaChatOptions.builder().temperature(0.0).maxTokens(30)).build()
                .prompt().user("What did the cat do?").call().content();
        String fromRequest = greedyClient(30).prompt().system(SYSTEM).user("What did the cat do?").call().content();
        assertThat(fromDefault).isEqualTo(expected.text());
        assertThat(fromRequest).isEqualTo(expected.text());
    }

    @Test
    void streamJoinsToTheCalledText() {
        Generation expected = reference(30, ChatMessage.user("Tell me about a cat."));
        List<String> pieces = greedyClient(30).prompt().user("Tell me about a cat.").stream().content()
                .collectList().block(Duration.ofSeconds(30));
        assertThat(pieces).hasSizeGreaterThan(2);
        assertThat(String.join("", pieces)).isEqualTo(expected.text());

        List<ChatResponse> responses = greedyClient(30).prompt().user("Tell me about a cat.").stream()
                .chatResponse().collectList().block(Duration.ofSeconds(30));
        ChatResponse last = responses.get(responses.size() - 1);
        assertThat(last.getMetadata().getUsage().getCompletionTokens()).isEqualTo(expected.stats().generatedTokens());
        assertThat(pool.available()).isEqualTo(pool.size());
    }

    /** An advisor that writes down every request and response that passes it, calls and streams. */
    static final class RecordingAdvisor implements CallAdvisor, StreamAdvisor {
        final List<String> log = new CopyOnWriteArrayList<>();

        @Override
        public ChatClientResponse adviseCall(ChatClientRequest request, CallAdvisorChain chain) {
            log.add("call request: " + texts(request.prompt().getInstructions()));
            ChatClientResponse response = chain.nextCall(request);
            log.add("call response: " + response.chatResponse().getResult().getOutput().getText());
            return response;
        }

        @Override
        public Flux<ChatClientResponse> adviseStream(ChatClientRequest request, StreamAdvisorChain chain) {
            log.add("stream request: " + texts(request.prompt().getInstructions()));
            return chain.nextStream(request).doOnNext(
                    response -> log.add("stream chunk: " + response.chatResponse().getResult().getOutput().getText()));
        }

        private static String texts(List<Message> messages) {
            return messages.stream().map(m -> m.getMessageType() + "=" + m.getText()).collect(Collectors.joining("|"));
        }

        @Override
        public String getName() {
            return "recording";
        }

        @Override
        public int getOrder() {
            return 0;
        }
    }

    @Test
    void advisorsSeeEveryRequestAndResponse() {
        Generation expected = reference(20, ChatMessage.system(SYSTEM), ChatMessage.user("Hi"));
        RecordingAdvisor recording = new RecordingAdvisor();
        ChatClient client = ChatClient.builder(chatModel).defaultSystem(SYSTEM)
                .defaultOptions(LlamaChatOptions.builder().temperature(0.0).maxTokens(20))
                .defaultAdvisors(new SimpleLoggerAdvisor(), recording).build();

        assertThat(client.prompt().user("Hi").call().content()).isEqualTo(expected.text());
        assertThat(recording.log).containsExactly("call request: SYSTEM=" + SYSTEM + "|USER=Hi",
                "call response: " + expected.text());

        recording.log.clear();
        String streamed = String.join("", client.prompt().user("Hi").stream().content().collectList()
                .block(Duration.ofSeconds(30)));
        assertThat(streamed).isEqualTo(expected.text());
        assertThat(recording.log.get(0)).isEqualTo("stream request: SYSTEM=" + SYSTEM + "|USER=Hi");
        assertThat(recording.log.subList(1, recording.log.size()).stream()
                .map(line -> line.substring("stream chunk: ".length())).collect(Collectors.joining()))
                .isEqualTo(expected.text());
    }

    enum Mood { HAPPY, SAD, SLEEPY }

    record Cat(String name, Mood mood, int legs) {}

    @Test
    void entityIsFilledFromAReplyTheSchemaConstrains() {
        ChatClient client = greedyClient(120);
        Cat cat = client.prompt().user("Tell me about a cat.")
                .advisors(AdvisorParams.ENABLE_NATIVE_STRUCTURED_OUTPUT).call().entity(Cat.class);
        assertThat(cat).isNotNull();
        assertThat(cat.name()).isNotNull();
        assertThat(cat.mood()).isNotNull();

        // the model was given the record's schema, and answered as the Java API does under that schema
        List<Prompt> prompts = new CopyOnWriteArrayList<>();
        ChatModel recording = new ChatModel() {
            @Override
            public ChatResponse call(Prompt prompt) {
                prompts.add(prompt);
                return chatModel.call(prompt);
            }

            @Override
            public ChatOptions getOptions() {
                return chatModel.getOptions();
            }
        };
        Cat again = ChatClient.builder(recording).defaultOptions(LlamaChatOptions.builder().temperature(0.0).maxTokens(120))
                .build().prompt().user("Tell me about a cat.").advisors(AdvisorParams.ENABLE_NATIVE_STRUCTURED_OUTPUT)
                .call().entity(Cat.class);
        assertThat(again).isEqualTo(cat);
        String schema = ((StructuredOutputChatOptions) prompts.get(0).getOptions()).getOutputSchema();
        assertThat(schema).contains("\"mood\"", "\"SLEEPY\"", "\"legs\"");
        try (Session session = model.newSession()) {
            Generation expected = session.chat(List.of(ChatMessage.user("Tell me about a cat.")),
                    GenerationOptions.builder().temperature(0).maxTokens(120).jsonSchema(schema).build());
            assertThat(chatModel.call(prompts.get(0)).getResult().getOutput().getText()).isEqualTo(expected.text());
        }

        // without native structured output the schema is only asked for in the prompt, which a story
        // model ignores: the reply is a story and the conversion fails, as it would with any model
        assertThatThrownBy(() -> client.prompt().user("Tell me about a cat.").call().entity(Cat.class))
                .isInstanceOf(RuntimeException.class);
    }
}
