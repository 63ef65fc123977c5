package dev.llamaspec.examples.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.Session;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The interactive mode in a pseudo-terminal (tmux), typed at as a user would. */
class ChatTerminalIT {
    static final Duration WAIT = Duration.ofSeconds(20);
    static final int MAX_TOKENS = 48;

    /** The chat on the test model, greedy, on one thread (the fastest on a busy 2-core machine). */
    static List<String> chat(int maxTokens, int ctx, String... extra) {
        List<String> command = Cli.command("--model", TestModel.path().toString(), "--temperature", "0",
                "--threads", "1", "--max-tokens", String.valueOf(maxTokens), "--ctx", String.valueOf(ctx));
        command.addAll(List.of(extra));
        return command;
    }

    static String oneLine(String text) {
        return text.strip().replaceAll("\\s+", " ");
    }

    static boolean atPrompt(String screen) {
        return Tmux.lastLine(screen).equals(Interactive.PROMPT.strip());
    }

    /** The screen text after the last line that shows {@code typed} after the prompt, or null. */
    static String after(String screen, String typed) {
        int at = screen.lastIndexOf(Interactive.PROMPT + typed);
        return at < 0 ? null : screen.substring(at + Interactive.PROMPT.length() + typed.length());
    }

    /** Types a line and waits until its reply has ended and the prompt is back; returns the reply's screen text. */
    static String say(Tmux tmux, String line) throws Exception {
        tmux.typeLine(line);
        String screen = tmux.waitFor("the reply to '" + line + "' and the prompt", WAIT, s -> {
            String rest = after(s, line);
            return rest != null && atPrompt(s) && rest.strip().length() > 1;
        });
        String rest = after(screen, line).stripTrailing();
        return rest.substring(0, rest.lastIndexOf('\n')).strip();
    }

    /** Types a line, waits until its reply is streaming, presses Ctrl-C and waits for the prompt. */
    static String sayAndInterrupt(Tmux tmux, String line) throws Exception {
        tmux.typeLine(line);
        tmux.waitFor("the reply to '" + line + "' to stream", WAIT, s -> {
            String rest = after(s, line);
            return rest != null && rest.strip().length() > 20 && !atPrompt(s);
        });
        tmux.keys("C-c");
        String screen = tmux.waitFor("the cancelled reply to '" + line + "' and the prompt", WAIT, s -> {
            String rest = after(s, line);
            return rest != null && rest.contains("[cancelled]") && atPrompt(s);
        });
        assertFalse(tmux.ended(), "Ctrl-C during a reply must not end the program");
        String rest = after(screen, line);
        return rest.substring(0, rest.indexOf("[cancelled]")).strip();
    }

    @Test
    void aConversationWithSlashCommands(@TempDir Path dir) throws Exception {
        String expected;
        try (LlamaModel model = LlamaModel.load(TestModel.path(), TestModel.ONE_THREAD);
             Session session = model.newSession()) {
            expected = session.generate("Once upon a time",
                    GenerationOptions.builder().temperature(0).maxTokens(MAX_TOKENS).build()).text();
        }
        Path saved = dir.resolve("conversation.json");
        Path history = dir.resolve("history");
        try (Tmux tmux = new Tmux(dir, TestModel.root(), chat(MAX_TOKENS, 0, "--history", history.toString()))) {
            String screen = tmux.waitFor("the banner and the prompt", WAIT,
                    s -> s.contains("/help lists the commands") && atPrompt(s));
            assertTrue(screen.contains("completion mode"), screen);

            // a line: the greedy reply streams onto the screen as the Java API generates it
            String reply = say(tmux, "Once upon a time");
            assertEquals(expected.strip().replaceAll("\\s+", " "), reply.replaceAll("\\s+", " "),
                    "the screen:\n" + tmux.screen());

            tmux.typeLine("/stats");
            screen = tmux.waitFor("/stats", WAIT, s -> s.contains("tau 1.00 tokens per step") && atPrompt(s));
            assertTrue(screen.contains("last reply: " + MAX_TOKENS + " tokens in " + MAX_TOKENS + " steps"), screen);
            assertTrue(screen.contains("speculation none: nothing drafted"), screen);

            tmux.typeLine("/spec lookup");
            tmux.waitFor("/spec lookup", WAIT,
                    s -> s.contains("speculation: lookup (up to 32 draft tokens") && atPrompt(s));
            String second = say(tmux, "Lily and Ben went to the park.");
            tmux.typeLine("/stats");
            screen = tmux.waitFor("/stats after /spec lookup", WAIT,
                    s -> s.contains("speculation lookup (up to 32 draft tokens, budget on): ") && atPrompt(s));
            assertEquals(2, screen.split("tau ", -1).length - 1, screen);

            tmux.typeLine("/save " + saved);
            tmux.waitFor("/save", WAIT, s -> s.contains("saved 4 messages to " + saved) && atPrompt(s));
            JsonNode json = Json.MAPPER.readTree(Files.readString(saved));
            assertEquals("completion", json.get("mode").asText());
            assertEquals("lookup", json.get("speculation").asText());
            JsonNode messages = json.get("messages");
            assertEquals(4, messages.size(), json.toString());
            assertEquals("Once upon a time", messages.get(0).get("content").asText());
            assertEquals(expected, messages.get(1).get("content").asText());
            assertEquals("user", messages.get(2).get("role").asText());
            assertEquals("Lily and Ben went to the park.", messages.get(2).get("content").asText());
            assertEquals("assistant", messages.get(3).get("role").asText());
            assertEquals(second.replaceAll("\\s+", " "),
                    messages.get(3).get("content").asText().strip().replaceAll("\\s+", " "));

            tmux.typeLine("/reset");
            tmux.waitFor("/reset", WAIT, s -> s.contains("conversation cleared") && atPrompt(s));
            Path empty = dir.resolve("empty.json");
            tmux.typeLine("/save " + empty);
            tmux.waitFor("/save after /reset", WAIT, s -> s.contains("saved 0 messages to " + empty) && atPrompt(s));
            assertEquals(0, Json.MAPPER.readTree(Files.readString(empty)).get("messages").size());

            // the up arrow brings back the line before
            tmux.keys("Up");
            tmux.waitFor("the last line again at the prompt", WAIT,
                    s -> Tmux.lastLine(s).equals(Interactive.PROMPT + "/save " + empty));
            tmux.keys("C-u");
            tmux.typeLine("/quit");
            assertEquals(0, tmux.waitForExit(WAIT));
        }
        String lines = Files.readString(history);
        for (String line : new String[] {"Once upon a time", "/stats", "/spec lookup", "/reset", "/quit"}) {
            assertTrue(lines.contains(line), "--history keeps " + line + ":\n" + lines);
        }
    }

    @Test
    void ctrlCCancelsAStreamingReplyAndTheChatGoesOn(@TempDir Path dir) throws Exception {
        Path saved = dir.resolve("conversation.json");
        // replies as long as the context: greedy decoding of this model loops and does not end by itself
        try (Tmux tmux = new Tmux(dir, TestModel.root(), chat(8192, 8192))) {
            tmux.waitFor("the prompt", WAIT, ChatTerminalIT::atPrompt);
            String first = sayAndInterrupt(tmux, "Tom had a big red ball.");
            // the program is still there and answers the next line (cancelled again, to keep the test short)
            String second = sayAndInterrupt(tmux, "The sun was warm.");

            tmux.typeLine("/save " + saved);
            tmux.waitFor("/save", WAIT, s -> s.contains("saved 4 messages to " + saved) && atPrompt(s));
            JsonNode messages = Json.MAPPER.readTree(Files.readString(saved)).get("messages");
            assertEquals(4, messages.size(), messages.toString());
            assertEquals("Tom had a big red ball.", messages.get(0).get("content").asText());
            assertEquals("The sun was warm.", messages.get(2).get("content").asText());
            for (int i : new int[] {1, 3}) {
                String partial = messages.get(i).get("content").asText();
                String shown = i == 1 ? first : second;
                assertFalse(partial.isBlank(), "a cancelled reply keeps the text it had");
                // The terminal echoes "^C" where the key was pressed and drops the output it had not
                // shown yet at that moment, so the screen shows the saved text up to there, then its end.
                String[] parts = shown.split("\\^C", -1);
                String saidBefore = oneLine(parts[0]);
                assertTrue(saidBefore.length() > 20 && oneLine(partial).startsWith(saidBefore),
                        "saved:\n" + partial + "\nshown:\n" + shown);
                assertTrue(oneLine(partial).endsWith(oneLine(parts[parts.length - 1])),
                        "saved:\n" + partial + "\nshown:\n" + shown);
            }

            tmux.typeLine("/quit");
            assertEquals(0, tmux.waitForExit(WAIT));
        }
    }

    @Test
    void ctrlDAndCtrlCAtThePromptLeaveCleanly(@TempDir Path dir) throws Exception {
        for (String key : new String[] {"C-d", "C-c"}) {
            Path sub = Files.createDirectory(dir.resolve(key));
            try (Tmux tmux = new Tmux(sub, TestModel.root(), chat(MAX_TOKENS, 0))) {
                tmux.waitFor("the prompt", WAIT, ChatTerminalIT::atPrompt);
                tmux.keys(key);
                assertEquals(0, tmux.waitForExit(WAIT), key + " at the prompt exits with 0");
            }
        }
    }
}
