package dev.llamaspec.examples.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.Speculation;
import dev.llamaspec.StopReason;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The engine and the slash commands against the test model, compared with the Java API. */
class ChatEngineTest {
    static final GenerationOptions GREEDY = GenerationOptions.builder().temperature(0).maxTokens(48).build();

    static LlamaModel model;
    static Session session;
    /** Strict numerics: the comparisons of speculative and plain greedy replies (see SessionOptions). */
    static final SessionOptions STRICT = SessionOptions.builder().strictNumerics(true).build();
    static Session strict;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModel.path(), TestModel.ONE_THREAD);
        session = model.newSession();
        strict = model.newSession(STRICT);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static ChatEngine engine(Mode mode, String speculation, int ctx) {
        return engine(mode, speculation, SessionOptions.builder().contextSize(ctx).build());
    }

    static ChatEngine engine(Mode mode, String speculation, SessionOptions options) {
        return ChatEngine.open(new ChatEngine.ModelFiles(TestModel.path(), null, null), TestModel.ONE_THREAD,
                options, mode, GREEDY,
                SpeculationChoice.of(speculation, null, true, null, SpeculationChoice.MedusaSettings.DEFAULT));
    }

    @Test
    void autoModeIsCompletionForABaseModelAndContinuesTheRunningText() {
        assertFalse(model.hasChatTemplate(), "the test model is a base model without a chat template");
        try (ChatEngine engine = engine(Mode.AUTO, "none", 0)) {
            assertEquals(Mode.COMPLETION, engine.mode());
            StringBuilder streamed = new StringBuilder();
            Generation first = engine.reply("Once upon a time", streamed::append, () -> false).generation();
            Generation api = session.generate("Once upon a time", GREEDY);
            assertEquals(api.text(), first.text());
            assertEquals(api.text(), streamed.toString());
            assertEquals(api.stopReason(), first.stopReason());

            Generation second = engine.reply("The next day", s -> { }, () -> false).generation();
            String text = "Once upon a time" + first.text() + (first.text().matches("(?s).*\\s") ? "" : " ")
                    + "The next day";
            assertEquals(session.generate(text, GREEDY).text(), second.text());
            assertEquals(2, engine.conversation().exchanges().size());
            assertTrue(second.stats().reusedPromptTokens() > 0, "the second prompt reuses the first's KV cache");
        }
    }

    @Test
    void chatModeWithoutATemplateUsesThePlainFormatAndStopsBeforeTheNextUserTurn() {
        try (ChatEngine engine = engine(Mode.CHAT, "none", 0)) {
            engine.conversation().setSystem("A story.");
            Generation reply = engine.reply("Tell me a story.", s -> { }, () -> false).generation();
            Generation api = session.chat(List.of(ChatMessage.system("A story."), ChatMessage.user("Tell me a story.")),
                    GREEDY.toBuilder().stop(ChatEngine.PLAIN_FORMAT_STOP).build());
            assertEquals(api.text(), reply.text());
            assertEquals(api.stopReason(), reply.stopReason());
            assertFalse(reply.text().contains("\nUser:"));
        }
    }

    @Test
    void speculationGivesTheSameGreedyRepliesAndCanBeSwitched() {
        try (ChatEngine engine = engine(Mode.COMPLETION, "lookup", STRICT)) {
            String prompt = "Lily saw a big dog. The dog was happy. Lily saw a big";
            Generation lookup = engine.reply(prompt, s -> { }, () -> false).generation();
            assertEquals(strict.generate(prompt, GREEDY).text(), lookup.text());
            assertEquals(Speculation.promptLookup(), engine.lastSpeculation().speculation(Drafters.NONE));
            engine.reset();
            engine.setSpeculation(engine.speculation().withName("recycling"));
            assertEquals(Speculation.tokenRecycling(), engine.options().speculation());
            Generation recycling = engine.reply(prompt, s -> { }, () -> false).generation();
            assertEquals(lookup.text(), recycling.text());
        }
    }

    @Test
    void medusaAndTheDraftModelLoadedAtStartupGiveTheSameGreedyReplies(@TempDir Path dir) {
        Path heads = TestHeads.train(model, dir);
        ChatEngine.ModelFiles files = new ChatEngine.ModelFiles(TestModel.path(), heads, TestModel.path());
        try (ChatEngine engine = ChatEngine.open(files, TestModel.ONE_THREAD, STRICT,
                Mode.COMPLETION, GREEDY, SpeculationChoice.of("medusa", null, false, null,
                        new SpeculationChoice.MedusaSettings(true, true)))) {
            String prompt = "Lily saw a big dog.";
            String plain = strict.generate(prompt, GREEDY).text();
            assertEquals(Speculation.Kind.MEDUSA, engine.options().speculation().kind());
            assertTrue(((Speculation.Medusa) engine.options().speculation()).staticTree());
            assertTrue(engine.options().speculation().typicalAcceptance());
            assertEquals(plain, engine.reply(prompt, s -> { }, () -> false).generation().text());

            StringWriter screen = new StringWriter();
            Commands commands = new Commands(engine, new PrintWriter(screen, true));
            engine.reset();
            commands.run("/spec draft");
            assertEquals(Speculation.Kind.DRAFT_MODEL, engine.options().speculation().kind());
            Generation draft = engine.reply(prompt, s -> { }, () -> false).generation();
            assertEquals(plain, draft.text());
            assertTrue(draft.stats().draftedTokens() > 0, "without the budget the draft model drafts");
            commands.run("/stats");
            assertTrue(screen.toString().contains("speculation draft (up to 32 draft tokens, budget off): "
                    + draft.stats().draftedTokens() + " drafted"), screen.toString());
            commands.run("/spec medusa");
            assertTrue(screen.toString().contains("speculation: medusa (static tree, LOSSY typical acceptance;"),
                    screen.toString());
        }
    }

    @Test
    void oldExchangesAreLeftOutWhenTheContextRunsShort() {
        try (ChatEngine engine = engine(Mode.COMPLETION, "none", 128)) {
            int dropped = 0;
            for (int i = 0; i < 6; i++) {
                ChatEngine.Reply r = engine.reply("Tim had a red ball number " + i + ".", s -> { }, () -> false);
                dropped += r.droppedExchanges();
                assertTrue(r.generation().stats().promptTokens() <= engine.contextSize() - GREEDY.maxTokens(),
                        "prompt of " + r.generation().stats().promptTokens() + " tokens leaves room for the reply");
            }
            assertTrue(dropped > 0, "six exchanges of ~60 tokens do not fit 128 tokens");
            assertEquals(6, engine.conversation().exchanges().size(), "/save still has every exchange");
        }
    }

    @Test
    void cancellingStopsTheReplyAndKeepsItsText() {
        try (ChatEngine engine = engine(Mode.COMPLETION, "none", 0)) {
            int[] chunks = {0};
            Generation g = engine.reply("Once upon a time", s -> chunks[0]++, () -> chunks[0] >= 3).generation();
            assertEquals(StopReason.CANCELLED, g.stopReason());
            assertEquals(3, chunks[0]);
            assertEquals(g.text(), engine.conversation().exchanges().get(0).reply());
            assertEquals(session.generate("Once upon a time", GREEDY).text().substring(0, g.text().length()), g.text());
            // the session is usable afterwards
            assertEquals(StopReason.MAX_TOKENS, engine.reply("Then", s -> { }, () -> false).generation().stopReason());
        }
    }

    @Test
    void slashCommands(@TempDir Path dir) throws Exception {
        try (ChatEngine engine = engine(Mode.COMPLETION, "none", 0)) {
            StringWriter screen = new StringWriter();
            Commands commands = new Commands(engine, new PrintWriter(screen, true));

            assertEquals(Commands.Result.CONTINUE, commands.run("/stats"));
            assertTrue(screen.toString().contains("no reply yet"), screen.toString());

            Generation g = engine.reply("Once upon a time", s -> { }, () -> false).generation();
            commands.run("/stats");
            assertTrue(screen.toString().contains("last reply: " + g.stats().generatedTokens() + " tokens in "
                    + g.stats().steps() + " steps, tau 1.00 tokens per step, stop MAX_TOKENS"), screen.toString());
            assertTrue(screen.toString().contains("nothing drafted"), screen.toString());

            commands.run("/spec medusa");
            assertTrue(screen.toString().contains("error: " + SpeculationChoice.NEEDS_HEADS), screen.toString());
            commands.run("/spec draft");
            assertTrue(screen.toString().contains("error: " + SpeculationChoice.NEEDS_DRAFT_MODEL), screen.toString());
            assertEquals("none", engine.speculation().name(), "a failed /spec leaves the speculation as it was");
            commands.run("/spec lookup");
            assertEquals("lookup", engine.speculation().name());
            commands.run("/spec");
            assertTrue(screen.toString().contains("speculation: lookup (up to 32 draft tokens, budget on) (choices:"),
                    screen.toString());

            commands.run("/system");
            assertTrue(screen.toString().contains("no system prompt"), screen.toString());
            commands.run("/system A story about a cat.");
            assertEquals("A story about a cat.", engine.conversation().system());

            Path file = dir.resolve("chat.json");
            commands.run("/save " + file);
            assertTrue(screen.toString().contains("saved 3 messages to " + file), screen.toString());
            JsonNode saved = Json.MAPPER.readTree(Files.readString(file));
            assertEquals("completion", saved.get("mode").asText());
            assertEquals("lookup", saved.get("speculation").asText());
            assertEquals(TestModel.path().toString(), saved.get("model").asText());
            JsonNode messages = saved.get("messages");
            assertEquals(3, messages.size());
            assertEquals("system", messages.get(0).get("role").asText());
            assertEquals("user", messages.get(1).get("role").asText());
            assertEquals("Once upon a time", messages.get(1).get("content").asText());
            assertEquals("assistant", messages.get(2).get("role").asText());
            assertEquals(g.text(), messages.get(2).get("content").asText());

            commands.run("/save " + dir.resolve("missing/chat.json"));
            assertTrue(screen.toString().contains("error: cannot save to " + dir.resolve("missing/chat.json")),
                    screen.toString());
            commands.run("/save");
            assertTrue(screen.toString().contains("usage: /save FILE"), screen.toString());

            commands.run("/reset");
            assertTrue(engine.conversation().exchanges().isEmpty());
            assertNull(engine.last());
            assertEquals("A story about a cat.", engine.conversation().system(), "/reset keeps the system prompt");

            commands.run("/nonsense");
            assertTrue(screen.toString().contains("unknown command /nonsense (/help lists the commands)"));
            commands.run("/help");
            assertTrue(screen.toString().contains(Commands.HELP));
            assertEquals(Commands.Result.QUIT, commands.run("/quit"));
            assertEquals(Commands.Result.QUIT, commands.run("/EXIT"));
        }
    }

    static ChatEngine resumed(Mode mode, Path sessionFile) {
        return ChatEngine.open(new ChatEngine.ModelFiles(TestModel.path(), null, null), TestModel.ONE_THREAD,
                SessionOptions.defaults(), mode, GREEDY,
                SpeculationChoice.of("none", null, true, null, SpeculationChoice.MedusaSettings.DEFAULT), sessionFile);
    }

    @Test
    void aSavedSessionResumesTheConversationWithoutEvaluatingItAgain(@TempDir Path dir) {
        Path file = dir.resolve("chat.session");
        StringWriter screen = new StringWriter();
        String third;
        try (ChatEngine engine = engine(Mode.CHAT, "none", 0)) {
            Commands commands = new Commands(engine, new PrintWriter(screen, true));
            commands.run("/system A story about a cat.");
            engine.reply("Once upon a time", s -> { }, () -> false);
            engine.reply("The cat was happy.", s -> { }, () -> false);
            commands.run("/save-session " + file);
            assertTrue(screen.toString().contains("saved the session (") && screen.toString().contains("2 exchanges"),
                    screen.toString());
            commands.run("/save-session " + dir.resolve("missing/x.session"));
            assertTrue(screen.toString().contains("error: cannot write the session file"), screen.toString());
            commands.run("/save-session");
            assertTrue(screen.toString().contains("usage: /save-session FILE"), screen.toString());
            third = engine.reply("Then it rained.", s -> { }, () -> false).generation().text();
        }
        try (ChatEngine engine = resumed(Mode.CHAT, file)) {
            assertEquals("A story about a cat.", engine.conversation().system());
            assertEquals(2, engine.conversation().exchanges().size());
            assertEquals("Once upon a time", engine.conversation().exchanges().get(0).user());
            int cached = engine.cachedTokens();
            assertTrue(cached > 20, "tokens in the restored KV cache: " + cached);
            Generation g = engine.reply("Then it rained.", s -> { }, () -> false).generation();
            assertEquals(third, g.text(), "the same reply as in the session that was saved");
            assertTrue(g.stats().reusedPromptTokens() >= cached - 1,
                    "reused " + g.stats().reusedPromptTokens() + " of " + cached);
        }
        ChatEngine.OpenException mode = assertThrows(ChatEngine.OpenException.class,
                () -> resumed(Mode.COMPLETION, file));
        assertEquals(ChatEngine.Part.SESSION, mode.part());
        assertTrue(mode.getMessage().contains("saved in chat mode, this run is in completion mode"), mode.getMessage());
        ChatEngine.OpenException missing = assertThrows(ChatEngine.OpenException.class,
                () -> resumed(Mode.CHAT, dir.resolve("nothing.session")));
        assertEquals(ChatEngine.Part.SESSION, missing.part());
        assertTrue(missing.getMessage().contains("No such file"), missing.getMessage());
    }
}
