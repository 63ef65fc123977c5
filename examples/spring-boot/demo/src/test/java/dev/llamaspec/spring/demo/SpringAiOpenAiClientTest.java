package dev.llamaspec.spring.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llamaspec.ChatMessage;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.spring.PooledSession;
import dev.llamaspec.spring.SessionPool;
import dev.llamaspec.spring.TestModel;
import com.openai.errors.BadRequestException;
import com.openai.errors.OpenAIServiceException;
import dev.llamaspec.spring.openaiclient.OpenAiClientApplication;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.ai.openai.OpenAiChatModel;
import org.springframework.ai.openai.OpenAiChatOptions;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Spring AI's OpenAI client ({@code spring-ai-starter-model-openai}, on OpenAI's Java SDK) talking to the
 * demo as if it were OpenAI: a second, non-web Spring application whose base URL is the demo's. Every
 * answer is checked against the Java API's answer to the same request.
 */
@SpringBootTest(classes = DemoApplication.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "llamaspec.pool-size=1",
            "llamaspec.threads=1",
            "llamaspec.context-size=2048",
            "llamaspec.borrow-timeout=1s",
            // greedy replies are compared with a separate session's: strict numerics (see SessionOptions)
            "llamaspec.strict-numerics=true",
        })
class SpringAiOpenAiClientTest {
    private static final SessionOptions STRICT = SessionOptions.builder().strictNumerics(true).build();

    @DynamicPropertySource
    static void model(DynamicPropertyRegistry registry) {
        registry.add("llamaspec.model", () -> TestModel.path().toString());
    }

    @LocalServerPort
    int port;

    @Autowired
    LlamaModel model;

    @Autowired
    SessionPool pool;

    private ConfigurableApplicationContext client;

    @BeforeEach
    void startClient() {
        client = new SpringApplicationBuilder(OpenAiClientApplication.class).web(WebApplicationType.NONE)
                .properties("spring.ai.openai.base-url=http://127.0.0.1:" + port + "/v1",
                        "spring.ai.openai.api-key=unused-by-the-demo",
                        "spring.ai.openai.max-retries=0",
                        "spring.ai.openai.chat.options.model=stories260K")
                // over the tests' config/application.properties, which keeps OpenAI's models out of the demo
                .run("--spring.ai.model.chat=openai", "--spring.ai.model.embedding=openai");
    }

    @AfterEach
    void stopClient() {
        client.close();
    }

    private static Generation reference(LlamaModel model, int maxTokens, ChatMessage... messages) {
        try (Session session = model.newSession(STRICT)) {
            return session.chat(List.of(messages), GenerationOptions.builder().temperature(0).maxTokens(maxTokens).build());
        }
    }

    private ChatClient chatClient() {
        return ChatClient.builder(client.getBean(OpenAiChatModel.class)).build();
    }

    private static OpenAiChatOptions.Builder greedy(int maxTokens) {
        return OpenAiChatOptions.builder().temperature(0.0).maxTokens(maxTokens);
    }

    @Test
    void callAnswersAsTheJavaApiDoes() {
        Generation expected = reference(model, 30, ChatMessage.system("You tell stories."),
                ChatMessage.user("Tell me about a cat."));
        ChatResponse response = chatClient().prompt().system("You tell stories.").user("Tell me about a cat.")
                .options(greedy(30)).call().chatResponse();

        assertThat(response.getResult().getOutput().getText()).isEqualTo(expected.text()).isNotEmpty();
        assertThat(response.getResult().getMetadata().getFinishReason()).isEqualToIgnoringCase("length");
        assertThat(response.getMetadata().getUsage().getPromptTokens()).isEqualTo(expected.stats().promptTokens());
        assertThat(response.getMetadata().getUsage().getCompletionTokens()).isEqualTo(30);
        assertThat(response.getMetadata().getUsage().getTotalTokens()).isEqualTo(expected.stats().promptTokens() + 30);
        assertThat(pool.available()).isEqualTo(pool.size());
    }

    @Test
    void streamJoinsToTheSameText() {
        Generation expected = reference(model, 30, ChatMessage.user("Tell me about a dog."));
        List<String> pieces = chatClient().prompt().user("Tell me about a dog.").options(greedy(30)).stream()
                .content().collectList().block(Duration.ofSeconds(60));
        assertThat(pieces).hasSizeGreaterThan(2);
        assertThat(String.join("", pieces)).isEqualTo(expected.text());

        List<ChatResponse> responses = chatClient().prompt().user("Tell me about a dog.").options(greedy(30)).stream()
                .chatResponse().collectList().block(Duration.ofSeconds(60));
        assertThat(responses.stream().map(r -> r.getResult() == null ? "" : r.getResult().getOutput().getText())
                .filter(t -> t != null).reduce("", String::concat)).isEqualTo(expected.text());
        assertThat(pool.available()).isEqualTo(pool.size());
    }

    @Test
    void embeddingsAreTheJavaApisVectors() {
        EmbeddingModel embeddings = client.getBean(EmbeddingModel.class);
        float[] vector = embeddings.embed("The dog");
        assertThat(vector).containsExactly(model.embed("The dog"), org.assertj.core.data.Offset.offset(1e-6f));
        assertThat(embeddings.embed(List.of("Once upon a time", "The dog")).get(0))
                .containsExactly(model.embed("Once upon a time"), org.assertj.core.data.Offset.offset(1e-6f));
    }

    @Test
    void anInvalidRequestRaisesTheClientsErrorWithTheServicesMessage() {
        assertThatThrownBy(() -> chatClient().prompt().user("Hi")
                .options(OpenAiChatOptions.builder().temperature(5.0).maxTokens(5)).call().content())
                .isInstanceOfSatisfying(BadRequestException.class, e -> {
                    assertThat(e.statusCode()).isEqualTo(400);
                    assertThat(e.getMessage()).contains("temperature must be a number from 0 to");
                });
        assertThat(pool.available()).isEqualTo(pool.size());
    }

    @Test
    void aBusyServiceIsAServerErrorAfterTheBorrowTimeout() {
        try (PooledSession held = pool.borrow()) {
            assertThat(held).isNotNull();
            assertThatThrownBy(() -> chatClient().prompt().user("Hi").options(greedy(5)).call().content())
                    .isInstanceOfSatisfying(OpenAIServiceException.class, e -> assertThat(e.statusCode()).isEqualTo(503));
        }
        assertThat(chatClient().prompt().user("Hi").options(greedy(5)).call().content()).isNotEmpty();
    }
}
