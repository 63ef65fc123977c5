package dev.llamaspec.spring.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ObjectNode;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.StopReason;
import dev.llamaspec.TextChunk;
import dev.llamaspec.TokenStream;
import dev.llamaspec.spring.PooledSession;
import dev.llamaspec.spring.SessionPool;
import dev.llamaspec.spring.TestModel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The service through OpenAI's official JavaScript client (the {@code openai} npm package, pinned by
 * {@code src/test/node/package-lock.json}): {@code npm ci} installs it, then Node's test runner runs the
 * scripts of {@code src/test/node} against the service, comparing with the Java API's greedy answers.
 * Node and npm must be on the PATH (the build root has Debian's); without them the test fails.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
    // one session: an aborted stream must give it back for the next request to be served
    "llamaspec.pool-size=1",
    "llamaspec.threads=1",
    "llamaspec.context-size=4096",
    "llamaspec.borrow-timeout=1s",
    "llamaspec.strict-numerics=true",
})
class OpenAiNodeClientTest {
    private static final SessionOptions STRICT = SessionOptions.builder().strictNumerics(true).build();
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path SCRIPTS = Paths.get("src", "test", "node");
    private static final Path WORK = Paths.get("target", "openai-node");
    private static final long NPM_TIMEOUT_S = 300;
    private static final long NODE_TIMEOUT_S = 300;

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

    @Test
    void openAisJavaScriptClientGetsTheJavaApisAnswers() throws Exception {
        Path work = install();
        Path expected = work.resolve("expected.json");
        JSON.writerWithDefaultPrettyPrinter().writeValue(expected.toFile(), expectations());
        Map<String, String> env = Map.of("OPENAI_BASE_URL", "http://127.0.0.1:" + port + "/v1",
                "LLAMASPEC_EXPECTED", expected.toAbsolutePath().toString());

        run(work, NODE_TIMEOUT_S, env, "node", "--test", "--test-concurrency=1", "--test-reporter=spec",
                "openai-client.test.mjs");
        assertThat(pool.available()).isEqualTo(pool.size());

        List<PooledSession> held = new ArrayList<>();
        try {
            for (int i = 0; i < pool.size(); i++) {
                held.add(pool.borrow());
            }
            run(work, NODE_TIMEOUT_S, env, "node", "--test", "--test-concurrency=1", "--test-reporter=spec",
                    "busy.test.mjs");
        } finally {
            held.forEach(PooledSession::close);
        }
        assertThat(pool.available()).isEqualTo(pool.size());
    }

    // --- what the Java API answers, greedy ---

    /** Each case's request (as the client sends it, without "model") and the Java API's answer to it. */
    private ObjectNode expectations() {
        ObjectNode cases = JSON.createObjectNode();
        List<ChatMessage> dog = List.of(ChatMessage.system("You tell stories."), ChatMessage.user("Tell me about a dog."));
        List<ChatMessage> bird = List.of(ChatMessage.system("You tell stories."), ChatMessage.user("Tell me about a bird."));
        cases.set("chat", chat(dog, 48));
        cases.set("chatStream", chat(bird, 48));
        cases.set("text", text("Once upon a time, a little girl", 64, "."));
        cases.set("textStream", text("The sun was", 40, null));
        cases.set("length", text("Once upon a time", 8, null));
        ObjectNode embeddings = cases.putObject("embeddings");
        List<String> texts = List.of("Once upon a time", "The dog");
        texts.forEach(embeddings.putArray("input")::add);
        for (float[] vector : model.embed(texts)) {
            tools.jackson.databind.node.ArrayNode values = embeddings.withArray("vectors").addArray();
            for (float v : vector) {
                values.add(v);
            }
        }
        assertThat(cases.path("text").path("finish_reason").asString()).isEqualTo("stop");
        assertThat(cases.path("length").path("finish_reason").asString()).isEqualTo("length");
        assertThat(cases.path("textStream").path("finish_reason").asString()).isEqualTo("length");
        return cases;
    }

    private ObjectNode chat(List<ChatMessage> messages, int maxTokens) {
        ObjectNode request = JSON.createObjectNode();
        messages.forEach(m -> request.withArray("messages").addObject()
                .put("role", m.role().name().toLowerCase(Locale.ROOT)).put("content", m.content()));
        request.put("max_tokens", maxTokens).put("temperature", 0);
        try (Session session = model.newSession(STRICT);
                TokenStream tokens = session.chatStream(messages, greedy(maxTokens))) {
            return answer(request, tokens);
        }
    }

    /** A text completion; stop, when not null, is a stop string. */
    private ObjectNode text(String prompt, int maxTokens, String stop) {
        ObjectNode request = JSON.createObjectNode().put("prompt", prompt).put("max_tokens", maxTokens)
                .put("temperature", 0);
        GenerationOptions options = greedy(maxTokens);
        if (stop != null) {
            request.putArray("stop").add(stop);
            options = options.toBuilder().stop(List.of(stop)).build();
        }
        try (Session session = model.newSession(STRICT); TokenStream tokens = session.stream(prompt, options)) {
            return answer(request, tokens);
        }
    }

    private static GenerationOptions greedy(int maxTokens) {
        return GenerationOptions.builder().temperature(0).maxTokens(maxTokens).build();
    }

    /** The text, finish reason, usage and number of chunks with text of a generation streamed to its end. */
    private static ObjectNode answer(ObjectNode request, TokenStream tokens) {
        StringBuilder text = new StringBuilder();
        int chunks = 0;
        for (TextChunk chunk : tokens) {
            if (!chunk.text().isEmpty()) {
                text.append(chunk.text());
                chunks++;
            }
        }
        Generation generation = tokens.result();
        assertThat(generation.stopReason()).isIn(StopReason.END_OF_TEXT, StopReason.STOP_STRING, StopReason.MAX_TOKENS);
        ObjectNode answer = JSON.createObjectNode();
        answer.set("request", request);
        answer.put("text", text.toString())
                .put("finish_reason", OpenAiResponses.finishReason(generation.stopReason()))
                .put("prompt_tokens", generation.stats().promptTokens())
                .put("completion_tokens", generation.stats().generatedTokens())
                .put("chunks", chunks);
        return answer;
    }

    // --- Node and npm ---

    /** The scripts and the lockfile copied under target/, and {@code npm ci} run there. */
    private static Path install() throws IOException, InterruptedException {
        Path work = WORK.toAbsolutePath();
        Files.createDirectories(work);
        try (Stream<Path> files = Files.list(SCRIPTS)) {
            for (Path file : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                Files.copy(file, work.resolve(file.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        run(work, 30, Map.of(), "node", "--version");
        run(work, 30, Map.of(), "npm", "--version");
        run(work, NPM_TIMEOUT_S, Map.of(), "npm", "ci", "--prefer-offline", "--no-audit", "--no-fund",
                "--no-update-notifier");
        return work;
    }

    /**
     * Runs a command in dir and fails the test with its output unless it exits 0 in time; its output is
     * printed either way.
     */
    private static void run(Path dir, long timeoutSeconds, Map<String, String> env, String... command)
            throws IOException, InterruptedException {
        String line = String.join(" ", command);
        Path log = Files.createTempFile(dir, command[0] + "-", ".log");
        ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        builder.environment().putAll(env);
        Process process;
        try {
            process = builder.start();
        } catch (IOException e) {
            fail("cannot run '" + line + "': " + e.getMessage() + ". This test needs Node.js and npm on the PATH"
                    + " (the build root has Debian's: ci/in-root mvn ...)", e);
            return;
        }
        boolean exited = process.waitFor(timeoutSeconds, TimeUnit.SECONDS);
        if (!exited) {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly().waitFor();
        }
        String output = Files.readString(log, StandardCharsets.UTF_8);
        Files.delete(log);
        System.out.println("$ " + line + "\n" + output);
        if (!exited) {
            fail("'" + line + "' did not finish within " + timeoutSeconds + " s:\n" + output);
        }
        if (process.exitValue() != 0) {
            fail("'" + line + "' exited with " + process.exitValue() + ":\n" + output);
        }
    }
}
