package dev.llamaspec.spring.demo;

import static org.assertj.core.api.Assertions.assertThat;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.spring.PooledSession;
import dev.llamaspec.spring.SessionPool;
import dev.llamaspec.spring.TestModel;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/** The service over real HTTP, with the real test model, against the Java API's own answers. */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
    "llamaspec.pool-size=4",
    "llamaspec.threads=1",
    "llamaspec.context-size=" + OpenAiServiceTest.CONTEXT,
    "llamaspec.borrow-timeout=2s",
    // requests with speculation are compared with plain decoding's text: strict numerics (see SessionOptions)
    "llamaspec.strict-numerics=true",
})
class OpenAiServiceTest {
    static final int CONTEXT = 4096;
    private static final SessionOptions STRICT = SessionOptions.builder().strictNumerics(true).build();
    private static final ObjectMapper JSON = new ObjectMapper();

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

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    // --- what the Java API gives for the same greedy options ---

    private Generation referenceChat(List<ChatMessage> messages, int maxTokens) {
        try (Session session = model.newSession(STRICT)) {
            return session.chat(messages, GenerationOptions.builder().temperature(0).maxTokens(maxTokens).build());
        }
    }

    private Generation referenceText(String prompt, int maxTokens) {
        try (Session session = model.newSession(STRICT)) {
            return session.generate(prompt, GenerationOptions.builder().temperature(0).maxTokens(maxTokens).build());
        }
    }

    // --- HTTP ---

    private HttpRequest post(String path, String body) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private HttpResponse<String> send(HttpRequest request) throws Exception {
        return http.send(request, HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode getJson(String path) throws Exception {
        HttpResponse<String> response = send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(10)).GET().build());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body());
    }

    private static String chatBody(String user, int maxTokens, boolean stream) {
        return "{\"model\": \"any\", \"messages\": [{\"role\": \"system\", \"content\": \"You tell stories.\"},"
                + " {\"role\": \"user\", \"content\": " + quote(user) + "}], \"max_tokens\": " + maxTokens
                + ", \"temperature\": 0, \"stream\": " + stream + "}";
    }

    private static List<ChatMessage> chatMessages(String user) {
        return List.of(ChatMessage.system("You tell stories."), ChatMessage.user(user));
    }

    private static String quote(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** The data of each event of a Server-Sent Events body; every non-empty line must be a data line. */
    private static List<String> events(String body) {
        List<String> data = new ArrayList<>();
        for (String line : body.split("\n", -1)) {
            if (line.isEmpty()) {
                continue;
            }
            assertThat(line).startsWith("data: ");
            data.add(line.substring("data: ".length()));
        }
        return data;
    }

    private static void assertUsage(JsonNode usage, Generation expected) {
        assertThat(usage.path("prompt_tokens").asInt()).isEqualTo(expected.stats().promptTokens()).isPositive();
        assertThat(usage.path("completion_tokens").asInt()).isEqualTo(expected.stats().generatedTokens());
        assertThat(usage.path("total_tokens").asInt())
                .isEqualTo(expected.stats().promptTokens() + expected.stats().generatedTokens());
    }

    // --- the tests ---

    @Test
    void chatCompletionAnswersAsTheJavaApi() throws Exception {
        Generation expected = referenceChat(chatMessages("Tell me about a dog."), 48);
        HttpResponse<String> response = send(post("/v1/chat/completions", chatBody("Tell me about a dog.", 48, false)));

        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(
                type -> assertThat(type).startsWith("application/json"));
        JsonNode json = JSON.readTree(response.body());
        assertThat(json.path("object").asString()).isEqualTo("chat.completion");
        assertThat(json.path("id").asString()).startsWith("chatcmpl-");
        assertThat(json.path("model").asString()).isNotEmpty();
        assertThat(json.path("created").asLong()).isPositive();
        JsonNode choice = json.path("choices").path(0);
        assertThat(choice.path("index").asInt()).isZero();
        assertThat(choice.path("message").path("role").asString()).isEqualTo("assistant");
        assertThat(choice.path("message").path("content").asString()).isEqualTo(expected.text()).isNotEmpty();
        assertThat(choice.path("finish_reason").asString())
                .isEqualTo(OpenAiResponses.finishReason(expected.stopReason()));
        assertUsage(json.path("usage"), expected);
        JsonNode stats = json.path("llamaspec");
        assertThat(stats.path("speculation").asString()).isEqualTo("none");
        assertThat(stats.path("tokens_per_step").asDouble()).isEqualTo(1.0);
        assertThat(stats.path("drafted").asInt()).isZero();
        assertThat(stats.path("accepted").asInt()).isZero();
        assertThat(stats.path("tokens_per_second").asDouble()).isPositive();
    }

    @Test
    void textCompletionWithSpeculationAnswersAsPlainDecoding() throws Exception {
        Generation expected = referenceText("Once upon a time, a little girl", 64);
        HttpResponse<String> response = send(post("/v1/completions", "{\"prompt\": \"Once upon a time, a little girl\","
                + " \"max_tokens\": 64, \"temperature\": 0, \"speculation\": \"lookup\"}"));

        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonNode json = JSON.readTree(response.body());
        assertThat(json.path("object").asString()).isEqualTo("text_completion");
        assertThat(json.path("id").asString()).startsWith("cmpl-");
        assertThat(json.path("choices").path(0).path("text").asString()).isEqualTo(expected.text()).isNotEmpty();
        assertUsage(json.path("usage"), expected);
        JsonNode stats = json.path("llamaspec");
        assertThat(stats.path("speculation").asString()).isEqualTo("lookup");
        assertThat(stats.path("steps").asInt()).isPositive().isLessThanOrEqualTo(expected.stats().generatedTokens());
        assertThat(stats.path("accepted").asInt()).isLessThanOrEqualTo(stats.path("drafted").asInt());
    }

    @Test
    void responseFormatMakesTheReplyJson() throws Exception {
        String schema = "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": 10},"
                + " \"age\": {\"type\": \"integer\", \"minimum\": 0}}, \"required\": [\"name\", \"age\"]}";
        for (String format : List.of("{\"type\": \"json_object\"}",
                "{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"person\", \"schema\": " + schema + "}}")) {
            HttpResponse<String> response = send(post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\","
                    + " \"content\": \"Who is the hero?\"}], \"max_tokens\": 200, \"temperature\": 0, \"speculation\":"
                    + " \"lookup\", \"response_format\": " + format + "}"));
            assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
            JsonNode choice = JSON.readTree(response.body()).path("choices").path(0);
            assertThat(choice.path("finish_reason").asString()).isEqualTo("stop");
            JsonNode reply = JSON.readTree(choice.path("message").path("content").asString());
            assertThat(reply.isObject()).as(reply.toString()).isTrue();
            if (format.contains("json_schema")) {
                assertThat(reply.path("name").isString()).as(reply.toString()).isTrue();
                assertThat(reply.path("age").isIntegralNumber()).as(reply.toString()).isTrue();
            }
        }
    }

    @Test
    void embeddingsAreTheJavaApisVectors() throws Exception {
        HttpResponse<String> response = send(post("/v1/embeddings", "{\"input\": [\"Once upon a time\", \"The dog\"]}"));
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonNode json = JSON.readTree(response.body());
        assertThat(json.path("object").asString()).isEqualTo("list");
        assertThat(json.path("data")).hasSize(2);
        try (LlamaModel model = LlamaModel.load(TestModel.path())) {
            float[] want = model.embed("The dog");
            JsonNode got = json.path("data").path(1);
            assertThat(got.path("index").asInt()).isEqualTo(1);
            assertThat(got.path("embedding")).hasSize(want.length);
            for (int i = 0; i < want.length; i++) {
                assertThat(got.path("embedding").path(i).floatValue()).isCloseTo(want[i], org.assertj.core.data.Offset.offset(1e-5f));
            }
            int tokens = model.tokenize("Once upon a time").length + model.tokenize("The dog").length;
            assertThat(json.path("usage").path("prompt_tokens").asInt()).isEqualTo(tokens);
        }
        JsonNode one = JSON.readTree(send(post("/v1/embeddings", "{\"input\": \"The dog\"}")).body());
        assertThat(one.path("data")).hasSize(1);

        // base64, the default of OpenAI's client libraries: the same float32 values, little-endian
        JsonNode packed = JSON.readTree(send(post("/v1/embeddings",
                "{\"input\": [\"Once upon a time\", \"The dog\"], \"encoding_format\": \"base64\"}")).body());
        for (int v = 0; v < 2; v++) {
            java.nio.FloatBuffer floats = java.nio.ByteBuffer.wrap(java.util.Base64.getDecoder().decode(
                    packed.path("data").path(v).path("embedding").asString()))
                    .order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            JsonNode plain = json.path("data").path(v).path("embedding");
            assertThat(floats.remaining()).isEqualTo(plain.size());
            for (int i = 0; i < plain.size(); i++) {
                assertThat(floats.get(i)).isEqualTo(plain.path(i).floatValue());
            }
        }
    }

    @Test
    void speculationAliasesAreReportedByTheirCanonicalName() throws Exception {
        Generation expected = referenceText("Once upon a time", 16);
        HttpResponse<String> response = send(post("/v1/completions", "{\"prompt\": \"Once upon a time\","
                + " \"max_tokens\": 16, \"temperature\": 0, \"speculation\": \"Token-Recycling\"}"));
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonNode json = JSON.readTree(response.body());
        assertThat(json.path("choices").path(0).path("text").asString()).isEqualTo(expected.text());
        assertThat(json.path("llamaspec").path("speculation").asString()).isEqualTo("recycling");
    }

    @Test
    void chatStreamIsOpenAiChunksThatJoinToTheSameText() throws Exception {
        Generation expected = referenceChat(chatMessages("Tell me about a bird."), 48);
        HttpResponse<String> response = send(post("/v1/chat/completions", chatBody("Tell me about a bird.", 48, true)));

        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(
                type -> assertThat(type).startsWith("text/event-stream"));
        List<String> events = events(response.body());
        assertThat(events.get(events.size() - 1)).isEqualTo("[DONE]");
        StringBuilder text = new StringBuilder();
        String id = null;
        JsonNode last = null;
        for (int i = 0; i < events.size() - 1; i++) {
            JsonNode chunk = JSON.readTree(events.get(i));
            assertThat(chunk.path("object").asString()).isEqualTo("chat.completion.chunk");
            id = id == null ? chunk.path("id").asString() : id;
            assertThat(chunk.path("id").asString()).isEqualTo(id).startsWith("chatcmpl-");
            JsonNode choice = chunk.path("choices").path(0);
            if (i == 0) {
                assertThat(choice.path("delta").path("role").asString()).isEqualTo("assistant");
            }
            if (i < events.size() - 2) {
                assertThat(choice.path("finish_reason").isNull()).isTrue();
            }
            text.append(choice.path("delta").path("content").asString(""));
            last = chunk;
        }
        assertThat(text.toString()).isEqualTo(expected.text()).isNotEmpty();
        assertThat(last.path("choices").path(0).path("finish_reason").asString())
                .isEqualTo(OpenAiResponses.finishReason(expected.stopReason()));
        assertUsage(last.path("usage"), expected);
        assertThat(last.path("llamaspec").path("tokens_per_step").asDouble()).isEqualTo(1.0);
    }

    @Test
    void textStreamJoinsToTheSameText() throws Exception {
        Generation expected = referenceText("The sun was", 40);
        HttpResponse<String> response = send(post("/v1/completions",
                "{\"prompt\": \"The sun was\", \"max_tokens\": 40, \"temperature\": 0, \"stream\": true}"));

        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        List<String> events = events(response.body());
        assertThat(events.get(events.size() - 1)).isEqualTo("[DONE]");
        StringBuilder text = new StringBuilder();
        for (String event : events.subList(0, events.size() - 1)) {
            JsonNode chunk = JSON.readTree(event);
            assertThat(chunk.path("object").asString()).isEqualTo("text_completion");
            text.append(chunk.path("choices").path(0).path("text").asString());
        }
        assertThat(text.toString()).isEqualTo(expected.text()).isNotEmpty();
        assertUsage(JSON.readTree(events.get(events.size() - 2)).path("usage"), expected);
    }

    @Test
    void eightConcurrentRequestsAllGetTheirGreedyAnswers() throws Exception {
        String[] animals = {"cat", "dog", "fish", "bird", "frog", "bear", "duck", "lion"};
        List<CompletableFuture<HttpResponse<String>>> futures = new ArrayList<>();
        for (int i = 0; i < animals.length; i++) {
            String user = "Tell me about a " + animals[i] + ".";
            futures.add(http.sendAsync(post("/v1/chat/completions", chatBody(user, 40, i % 2 == 1)),
                    HttpResponse.BodyHandlers.ofString()));
        }
        for (int i = 0; i < animals.length; i++) {
            HttpResponse<String> response = futures.get(i).get(60, TimeUnit.SECONDS);
            assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
            String text;
            if (i % 2 == 1) {
                StringBuilder joined = new StringBuilder();
                List<String> events = events(response.body());
                assertThat(events.get(events.size() - 1)).isEqualTo("[DONE]");
                for (String event : events.subList(0, events.size() - 1)) {
                    joined.append(JSON.readTree(event).path("choices").path(0).path("delta").path("content").asString(""));
                }
                text = joined.toString();
            } else {
                text = JSON.readTree(response.body()).path("choices").path(0).path("message").path("content").asString();
            }
            String user = "Tell me about a " + animals[i] + ".";
            assertThat(text).as(user).isEqualTo(referenceChat(chatMessages(user), 40).text());
        }
        assertThat(pool.available()).isEqualTo(pool.size());
    }

    @Test
    void aClientThatDisconnectsMidStreamCancelsItsGeneration() throws Exception {
        double cancelledBefore = cancelledStreams();
        // up to 4000 tokens: seconds of generation, unless the disconnect cancels it
        HttpResponse<InputStream> response = http.send(post("/v1/completions", "{\"prompt\": \"Once upon a time\","
                + " \"max_tokens\": 4000, \"temperature\": 0, \"stream\": true}"), HttpResponse.BodyHandlers.ofInputStream());
        assertThat(response.statusCode()).isEqualTo(200);
        try (InputStream body = response.body()) {
            BufferedReader reader = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8));
            int events = 0;
            while (events < 3) {
                String line = reader.readLine();
                assertThat(line).as("the stream goes on").isNotNull();
                if (line.startsWith("data: ")) {
                    events++;
                }
            }
            assertThat(poolFree()).isLessThan(pool.size());
        } // closing the body closes the connection

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (poolFree() < pool.size() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(poolFree()).as("free sessions 2 s after the disconnect").isEqualTo(pool.size());
        assertThat(cancelledStreams()).as("streams that ended cancelled").isEqualTo(cancelledBefore + 1);

        Generation expected = referenceText("Once upon a time", 16);
        HttpResponse<String> next = send(post("/v1/completions",
                "{\"prompt\": \"Once upon a time\", \"max_tokens\": 16, \"temperature\": 0}"));
        assertThat(next.statusCode()).as(next.body()).isEqualTo(200);
        assertThat(JSON.readTree(next.body()).path("choices").path(0).path("text").asString()).isEqualTo(expected.text());
    }

    private int poolFree() throws Exception {
        return getJson("/actuator/health").path("components").path("llamaspec").path("details").path("pool")
                .path("free").asInt(-1);
    }

    private double cancelledStreams() throws Exception {
        HttpResponse<String> response = send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                + "/actuator/metrics/llamaspec.generations?tag=stop_reason:cancelled&tag=stream:true"))
                .timeout(Duration.ofSeconds(10)).GET().build());
        if (response.statusCode() == 404) {
            return 0; // no such generation yet
        }
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body()).path("measurements").path(0).path("value").asDouble();
    }

    static Stream<Arguments> badRequests() {
        String chat = "/v1/chat/completions";
        String text = "/v1/completions";
        String user = "\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]";
        return Stream.of(
                Arguments.of(chat, "{\"max_tokens\": 5}", "messages", "messages is required"),
                Arguments.of(chat, "{\"messages\": []}", "messages", "non-empty array"),
                Arguments.of(chat, "{\"messages\": [{\"role\": \"wizard\", \"content\": \"Hi\"}]}", "messages[0].role",
                        "'wizard' is not supported"),
                Arguments.of(chat, "{\"messages\": [{\"role\": \"tool\", \"content\": \"Hi\"}]}", "messages[0].role",
                        "'tool' is not supported"),
                Arguments.of(chat, "{\"messages\": [{\"content\": \"Hi\"}]}", "messages[0].role", "role is required"),
                Arguments.of(chat, "{\"messages\": [{\"role\": \"user\"}]}", "messages[0].content",
                        "content is required"),
                Arguments.of(chat, "{" + user + ", \"max_tokens\": 0}", "max_tokens", "at least 1, got 0"),
                Arguments.of(chat, "{" + user + ", \"max_tokens\": -3}", "max_tokens", "at least 1, got -3"),
                Arguments.of(chat, "{" + user + ", \"max_tokens\": 100000}", "max_tokens",
                        "at most the context size"),
                Arguments.of(chat, "{" + user + ", \"max_tokens\": \"many\"}", "max_tokens", "must be an integer"),
                Arguments.of(chat, "{" + user + ", \"temperature\": -0.5}", "temperature", "got -0.5"),
                Arguments.of(chat, "{" + user + ", \"temperature\": NaN}", "temperature", "got NaN"),
                Arguments.of(chat, "{" + user + ", \"speculation\": \"warp\"}", "speculation",
                        "Unknown speculation 'warp'"),
                Arguments.of(chat, "{" + user + ", \"speculation\": \"medusa\"}", "speculation",
                        "started without llamaspec.heads"),
                Arguments.of(text, "{\"prompt\": \"Hi\", \"speculation\": \"draft-model\"}", "speculation",
                        "started without llamaspec.draft-model"),
                Arguments.of(chat, "{" + user + ", \"speculation\": 3}", "speculation",
                        "one of none, lookup, recycling, auto, lookahead, draft, medusa"),
                Arguments.of(chat, "{" + user + ", \"n\": 2}", "n", "n must be 1"),
                Arguments.of(chat, "{" + user + ", \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}", "stop",
                        "at most 4"),
                Arguments.of(chat, "{" + user + ", \"stream\": \"yes\"}", "stream", "true or false"),
                Arguments.of(chat, "{\"messages\": ", null, "not valid JSON"),
                Arguments.of(chat, "", null, "body is empty"),
                Arguments.of(text, "{\"max_tokens\": 5}", "prompt", "prompt is required"),
                Arguments.of(text, "{\"prompt\": [\"a\", \"b\"]}", "prompt", "one prompt per request"),
                Arguments.of(text, "{\"prompt\": \"Hi\", \"max_tokens\": 0, \"stream\": true}", "max_tokens",
                        "at least 1"),
                Arguments.of(text, "{\"prompt\": \"Hi\", \"top_p\": 0}", "top_p", "above 0"),
                Arguments.of("/v1/embeddings", "{}", "input", "input is required"),
                Arguments.of("/v1/embeddings", "{\"input\": []}", "input", "non-empty array of strings"),
                Arguments.of("/v1/embeddings", "{\"input\": [\"a\", \"\"]}", "input", "input[1] is empty"),
                Arguments.of("/v1/embeddings", "{\"input\": [[1, 2]]}", "input", "token arrays are not supported"),
                Arguments.of("/v1/embeddings", "{\"input\": \"a\", \"encoding_format\": \"int8\"}", "encoding_format",
                        "must be \"float\" or \"base64\", got \"int8\""),
                Arguments.of("/v1/embeddings", "{\"input\": \"a\", \"dimensions\": 8}", "dimensions", "not supported"),
                Arguments.of(chat, "{" + user + ", \"response_format\": \"json\"}", "response_format",
                        "must be an object with a \"type\""),
                Arguments.of(chat, "{" + user + ", \"response_format\": {\"type\": \"yaml\"}}", "response_format",
                        "got \"yaml\""),
                Arguments.of(chat, "{" + user + ", \"response_format\": {\"type\": \"json_schema\"}}",
                        "response_format", "needs json_schema.schema"),
                Arguments.of(chat, "{" + user + ", \"response_format\": {\"type\": \"json_schema\", \"json_schema\":"
                        + " {\"name\": \"x\", \"schema\": {\"type\": \"string\", \"pattern\": \"a\"}}}}", "response_format",
                        "'pattern' is not supported"));
    }

    @ParameterizedTest
    @MethodSource("badRequests")
    void badRequestsGet400WithAnOpenAiError(String path, String body, String param, String message) throws Exception {
        HttpResponse<String> response = send(post(path, body));
        assertThat(response.statusCode()).as(response.body()).isEqualTo(400);
        assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(
                type -> assertThat(type).startsWith("application/json"));
        JsonNode error = JSON.readTree(response.body()).path("error");
        assertThat(error.path("type").asString()).isEqualTo("invalid_request_error");
        assertThat(error.path("message").asString()).contains(message);
        if (param == null) {
            assertThat(error.path("param").isNull()).isTrue();
        } else {
            assertThat(error.path("param").asString()).isEqualTo(param);
        }
    }

    @Test
    void aPromptLongerThanTheContextIsABadRequest() throws Exception {
        String prompt = "once upon a time ".repeat(CONTEXT);
        HttpResponse<String> response = send(post("/v1/completions", "{\"prompt\": " + quote(prompt) + "}"));
        assertThat(response.statusCode()).as(response.body()).isEqualTo(400);
        JsonNode error = JSON.readTree(response.body()).path("error");
        assertThat(error.path("code").asString()).isEqualTo("context_length_exceeded");
        assertThat(error.path("message").asString()).isNotEmpty();
        assertThat(pool.available()).isEqualTo(pool.size());
    }

    @Test
    void anExhaustedPoolIsA503AfterTheBorrowTimeout() throws Exception {
        List<PooledSession> held = new ArrayList<>();
        try {
            for (int i = 0; i < pool.size(); i++) {
                held.add(pool.borrow());
            }
            long start = System.nanoTime();
            HttpResponse<String> response = send(post("/v1/chat/completions", chatBody("Hi", 5, false)));
            assertThat(response.statusCode()).as(response.body()).isEqualTo(503);
            assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(TimeUnit.SECONDS.toNanos(2));
            JsonNode error = JSON.readTree(response.body()).path("error");
            assertThat(error.path("code").asString()).isEqualTo("server_busy");
            assertThat(error.path("message").asString()).contains("all 4 llamaspec sessions are busy");
        } finally {
            held.forEach(PooledSession::close);
        }
        assertThat(send(post("/v1/chat/completions", chatBody("Hi", 5, false))).statusCode()).isEqualTo(200);
    }

    @Test
    void healthIsUpWithModelAndPool() throws Exception {
        JsonNode health = getJson("/actuator/health");
        assertThat(health.path("status").asString()).isEqualTo("UP");
        JsonNode llamaspec = health.path("components").path("llamaspec");
        assertThat(llamaspec.path("status").asString()).isEqualTo("UP");
        JsonNode details = llamaspec.path("details");
        assertThat(details.path("loaded").asBoolean()).isTrue();
        assertThat(details.path("description").asString()).isEqualTo(model.info().description()).isNotEmpty();
        assertThat(details.path("model").asString()).isEqualTo(TestModel.path().toString());
        assertThat(details.path("pool").path("size").asInt()).isEqualTo(4);
        assertThat(details.path("pool").path("free").asInt()).isEqualTo(4);
        assertThat(details.path("pool").path("contextSize").asInt()).isGreaterThanOrEqualTo(CONTEXT);
        assertThat(details.path("pool").path("threads").size()).isEqualTo(4);
        details.path("pool").path("threads").forEach(t -> assertThat(t.asInt()).isPositive());
        assertThat(details.path("pool").path("sessionsDecoding").isInt()).isTrue();
    }

    @Test
    void modelsListsTheModelAndUnknownPathsGetAnOpenAiError() throws Exception {
        JsonNode models = getJson("/v1/models");
        assertThat(models.path("data").path(0).path("id").asString()).isEqualTo(
                JSON.readTree(send(post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 1}")).body())
                        .path("model").asString()).isNotEmpty();

        HttpResponse<String> missing = send(post("/v1/images/generations", "{}"));
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(JSON.readTree(missing.body()).path("error").path("type").asString()).isEqualTo("invalid_request_error");
    }
}
