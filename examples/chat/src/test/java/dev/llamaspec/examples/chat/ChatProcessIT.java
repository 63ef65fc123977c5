package dev.llamaspec.examples.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The non-interactive mode through the real jar, compared with the Java API in this JVM. */
class ChatProcessIT {
    static final String PROMPT = "Once upon a time, there was a little girl named Lily.";
    static final GenerationOptions GREEDY = GenerationOptions.builder().temperature(0).maxTokens(64).build();

    static LlamaModel model;
    static Session session;
    /** Strict numerics: the comparisons of speculative and plain greedy text (see SessionOptions). */
    static Session strict;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModel.path(), TestModel.ONE_THREAD);
        session = model.newSession();
        strict = model.newSession(SessionOptions.builder().strictNumerics(true).build());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static JsonNode json(String... args) throws Exception {
        Cli.Result r = Cli.run(TestModel.root(), withOneThread(args));
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().strip().split("\n");
        assertEquals(1, lines.length, "one JSON line:\n" + r.out());
        return Json.MAPPER.readTree(lines[0]);
    }

    /** One thread: the fastest on a busy 2-core machine; the output does not depend on it. */
    static String[] withOneThread(String... args) {
        String[] all = Arrays.copyOf(args, args.length + 2);
        all[args.length] = "--threads";
        all[args.length + 1] = "1";
        return all;
    }

    static void assertSame(Generation api, JsonNode cli) {
        assertEquals(api.text(), cli.get("text").asText());
        assertEquals(api.tokens().length, cli.get("tokens").asInt());
        assertEquals(api.stopReason().name(), cli.get("stopReason").asText());
        JsonNode stats = cli.get("stats");
        assertEquals(api.stats().generatedTokens(), stats.get("generatedTokens").asInt());
        assertEquals(api.stats().promptTokens(), stats.get("promptTokens").asInt());
    }

    @Test
    void greedyJsonEqualsTheJavaApi() throws Exception {
        // run from the repository root: the default model is found there
        JsonNode cli = json("--prompt", PROMPT, "--temperature", "0", "--max-tokens", "64", "--json");
        Generation api = session.generate(PROMPT, GREEDY);
        assertSame(api, cli);
        assertEquals("completion", cli.get("mode").asText());
        assertEquals("none", cli.get("speculation").asText());
        JsonNode stats = cli.get("stats");
        assertEquals(stats.get("generatedTokens").asInt(), stats.get("steps").asInt());
        assertEquals(1.0, stats.get("tokensPerStep").asDouble());
        assertTrue(stats.get("tokensPerSecond").asDouble() > 0, stats.toString());
        assertTrue(stats.get("acceptance").isNull(), stats.toString());
    }

    @Test
    void speculationGivesTheSameJsonTextWithDraftStats() throws Exception {
        Generation api = strict.generate(PROMPT, GREEDY);
        JsonNode cli = json("--model", TestModel.path().toString(), "--prompt", PROMPT, "--temperature", "0",
                "--max-tokens", "64", "--speculation", "lookup", "--no-budget", "--max-draft", "8", "--strict-numerics",
                "--json");
        assertSame(api, cli);
        assertEquals("lookup", cli.get("speculation").asText());
        JsonNode stats = cli.get("stats");
        assertTrue(stats.get("draftedTokens").asInt() > 0, "without the budget lookup drafts: " + stats);
        assertEquals((double) stats.get("acceptedTokens").asInt() / stats.get("draftedTokens").asInt(),
                stats.get("acceptance").asDouble(), 1e-12);
    }

    @Test
    void medusaHeadsGiveTheSameGreedyJson(@TempDir Path dir) throws Exception {
        Path heads = TestHeads.train(model, dir);
        Generation api = strict.generate(PROMPT, GREEDY);
        JsonNode cli = json("--prompt", PROMPT, "--temperature", "0", "--max-tokens", "64", "--speculation",
                "medusa", "--heads", heads.toString(), "--no-budget", "--strict-numerics", "--json");
        assertSame(api, cli);
        assertEquals("medusa", cli.get("speculation").asText());
        assertTrue(cli.get("stats").get("draftedTokens").asInt() > 0, "without the budget the heads draft: " + cli);

        cli = json("--prompt", PROMPT, "--temperature", "0", "--max-tokens", "64", "--speculation", "medusa",
                "--heads", heads.toString(), "--static-tree", "--typical", "--strict-numerics", "--json");
        assertSame(api, cli);
    }

    @Test
    void aDraftModelGivesTheSameGreedyJson() throws Exception {
        Generation api = strict.generate(PROMPT, GREEDY);
        JsonNode cli = json("--prompt", PROMPT, "--temperature", "0", "--max-tokens", "64", "--speculation", "draft",
                "--draft-model", TestModel.path().toString(), "--no-budget", "--strict-numerics", "--json");
        assertSame(api, cli);
        assertEquals("draft", cli.get("speculation").asText());
        assertTrue(cli.get("stats").get("draftedTokens").asInt() > 0, "without the budget the model drafts: " + cli);
    }

    @Test
    void headsOrDraftModelThatCannotBeLoadedExitWith1(@TempDir Path dir) throws Exception {
        Path heads = TestHeads.train(model, dir);
        Path other = TestHeads.forAnotherModel(model, heads, dir);
        Cli.Result r = Cli.run(TestModel.root(), withOneThread("--speculation", "medusa", "--heads", other.toString(),
                "--prompt", "Hi"));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().contains("0123456789abcdef")
                && r.err().contains(model.fingerprint()), r.err());
        assertNoStackTrace(r);

        Path missing = dir.resolve("no-such-heads.gguf");
        r = Cli.run(TestModel.root(), withOneThread("--heads", missing.toString(), "--prompt", "Hi"));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().contains(missing.toString()), r.err());
        assertNoStackTrace(r);

        r = Cli.run(TestModel.root(), withOneThread("--speculation", "draft", "--draft-model", heads.toString(),
                "--prompt", "Hi"));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().contains(heads.toString()), r.err());
        assertNoStackTrace(r);
    }

    @Test
    void chatModeJsonEqualsTheJavaApisChat() throws Exception {
        JsonNode cli = json("--model", TestModel.path().toString(), "--mode", "chat", "--system", "Tell stories.",
                "--prompt", "Tell me about a dog.", "--temperature", "0", "--max-tokens", "64", "--json");
        Generation api = session.chat(
                List.of(ChatMessage.system("Tell stories."), ChatMessage.user("Tell me about a dog.")),
                GREEDY.toBuilder().stop(ChatEngine.PLAIN_FORMAT_STOP).build());
        assertSame(api, cli);
        assertEquals("chat", cli.get("mode").asText());
    }

    @Test
    void plainOutputIsTheReplyText() throws Exception {
        Cli.Result r = Cli.run(TestModel.root(),
                withOneThread("--prompt", PROMPT, "--temperature", "0", "--max-tokens", "64"));
        assertEquals(0, r.code(), r.err());
        String text = session.generate(PROMPT, GREEDY).text();
        assertEquals(text.endsWith("\n") ? text : text + "\n", r.out());
        assertEquals("", r.err());
    }

    @Test
    void badArgumentsExitNonZeroWithAMessageAndNoStackTrace(@TempDir Path dir) throws Exception {
        Cli.Result r = Cli.run(TestModel.root(), "--speculation", "medusa", "--prompt", "Hi");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("error: " + SpeculationChoice.NEEDS_HEADS), r.err());
        assertNoStackTrace(r);

        r = Cli.run(TestModel.root(), "--temperature", "hot");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("Invalid value for option '--temperature': 'hot' is not a float"), r.err());
        assertNoStackTrace(r);

        Path missing = dir.resolve("no-such-model.gguf");
        r = Cli.run(TestModel.root(), "--model", missing.toString(), "--prompt", "Hi");
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("error: ") && r.err().contains(missing.toString()), r.err());
        assertNoStackTrace(r);

        // outside the checkout the default model is not there
        r = Cli.run(dir, "--prompt", "Hi");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("no model given") && r.err().contains("--model FILE"), r.err());
        assertNoStackTrace(r);
    }

    static void assertNoStackTrace(Cli.Result r) {
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), r.err());
        assertEquals("", r.out());
    }
}
