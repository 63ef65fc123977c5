package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chat templates, written into copies of the test model ({@link TestGguf}).
 *
 * <p>The real templates of several model families are llama.cpp's test fixtures (ggml-org/llama.cpp,
 * {@code models/templates/}, which copies them from the models' {@code tokenizer_config.json}), kept in
 * {@code src/test/resources/chat-templates/} under their names there. llama.cpp recognises each of them, so
 * {@link LlamaModel#applyChatTemplate} renders them with llama.cpp's built-in formats; the test renders the
 * same conversations with our Jinja path ({@link JinjaChatTemplate}, as {@link ChatRenderer} makes it for the
 * model) and compares with llama.cpp's output, an independent reference. Where a family's real template
 * differs from llama.cpp's built-in format, the comparison says exactly how, as a change to the conversation
 * or to llama.cpp's text, instead of skipping it.
 */
class ChatTemplateTest {
    private static final String KEY = "tokenizer.chat_template";

    private static final ChatMessage SYSTEM = ChatMessage.system("You are a helpful assistant.");
    /** The conversations compared: system + user, user only, multi-turn with and without a system message. */
    private static final List<List<ChatMessage>> ENDING_WITH_USER = List.of(
            List.of(SYSTEM, ChatMessage.user("Hello there")),
            List.of(ChatMessage.user("Hello there")),
            List.of(SYSTEM, ChatMessage.user("Hi"), ChatMessage.assistant("Hello! How can I help?"),
                    ChatMessage.user("Tell me a story.")),
            List.of(ChatMessage.user("Hi"), ChatMessage.assistant("Hello!"), ChatMessage.user("Again, please.")));
    private static final List<ChatMessage> ENDING_WITH_ASSISTANT =
            List.of(ChatMessage.user("Hi"), ChatMessage.assistant("Hello!"));

    /** A template llama.cpp does not know. */
    private static final String CUSTOM = "{{ bos_token }}{% for m in messages %}[[{{ m.role | upper }}]] {{ m.content }}\n"
            + "{% endfor %}{% if add_generation_prompt %}[[ASSISTANT]]{% endif %}";

    @TempDir
    static Path dir;

    // ---------------------------------------------------------------- the families' real templates

    @Test
    void qwen3() throws IOException {
        // ChatML, as llama.cpp's chatml; Qwen 3 adds an empty thinking block to the assistant's turn after the
        // last user message
        Family f = family("Qwen-Qwen3-0.6B.jinja");
        for (List<ChatMessage> c : ENDING_WITH_USER) {
            f.assertSame(c);
        }
        List<ChatMessage> thinking = List.of(ENDING_WITH_ASSISTANT.get(0),
                ChatMessage.assistant("<think>\n\n</think>\n\n" + ENDING_WITH_ASSISTANT.get(1).content()));
        f.assertSame(ENDING_WITH_ASSISTANT, thinking, Function.identity());
    }

    @Test
    void llama33() throws IOException {
        // llama.cpp's llama3 format; the template always writes a system message that begins with the
        // knowledge cut-off and a date, fixed in 3.3 (see withLlamaDate)
        Family f = family("meta-llama-Llama-3.3-70B-Instruct.jinja");
        for (List<ChatMessage> c : all()) {
            f.assertSame(c, withLlamaDate(c, "26 Jul 2024"), llamaEmptySystem(c));
        }
    }

    @Test
    void llama32() throws IOException {
        // as 3.3, with today's date from strftime_now("%d %b %Y")
        Family f = family("meta-llama-Llama-3.2-3B-Instruct.jinja");
        for (List<ChatMessage> c : all()) {
            String today;
            do {
                today = today();
                f.assertSame(c, withLlamaDate(c, today), llamaEmptySystem(c));
            } while (!today.equals(today())); // a render across midnight: again
        }
    }

    @Test
    void gemma2() throws IOException {
        // llama.cpp's gemma format; the template refuses a system message (raise_exception), which llama.cpp
        // puts before the first user message instead
        Family f = family("google-gemma-2-2b-it.jinja");
        for (List<ChatMessage> c : all()) {
            if (c.get(0).role() != ChatMessage.Role.SYSTEM) {
                f.assertSame(c);
                continue;
            }
            for (boolean add : new boolean[] {true, false}) {
                assertTrue(f.model.applyChatTemplate(c, add).contains("You are a helpful assistant.\n\n"));
                LlamaException e = assertThrows(LlamaException.class, () -> f.jinja.render(c, add));
                assertEquals(ErrorCode.TEMPLATE, e.code());
                assertEquals("the model's chat template refused the conversation: System role not supported",
                        e.getMessage());
            }
        }
    }

    @Test
    void mistralNemo() throws IOException {
        // llama.cpp's mistral-v3-tekken; the template puts the system message into the last user message,
        // llama.cpp into the first (the same for one user message). The template ends an assistant message
        // with eos_token, llama.cpp with "</s>": the test model's EOS text is "</s>".
        Family f = family("mistralai-Mistral-Nemo-Instruct-2407.jinja");
        for (List<ChatMessage> c : all()) {
            f.assertSame(c, systemBeforeLastUser(c), Function.identity());
        }
    }

    @Test
    void phi35() throws IOException {
        // llama.cpp's phi3; without add_generation_prompt the template ends with eos_token
        Family f = family("microsoft-Phi-3.5-mini-instruct.jinja");
        for (List<ChatMessage> c : all()) {
            assertEquals(f.model.applyChatTemplate(c, true), f.jinja.render(c, true));
            assertEquals(f.model.applyChatTemplate(c, false) + "</s>", f.jinja.render(c, false));
        }
    }

    @Test
    void mistralSmall31() throws IOException {
        // A v7-tekken template: llama.cpp recognises it as mistral-v7, whose format has a space after
        // [SYSTEM_PROMPT] and [INST] and before a reply; otherwise the same. (Without a system message the
        // template writes its default one, with today's date; llama.cpp writes none: not compared.)
        Family f = family("mistralai-Mistral-Small-3.1-24B-Instruct-2503.jinja");
        Function<String, String> tekken = s -> s.replace("[SYSTEM_PROMPT] ", "[SYSTEM_PROMPT]")
                .replace("[INST] ", "[INST]").replace("[/INST] ", "[/INST]");
        for (List<ChatMessage> c : all()) {
            if (c.get(0).role() == ChatMessage.Role.SYSTEM) {
                f.assertSame(c, c, tekken);
            }
        }
    }

    @Test
    void phi4Mini() throws IOException {
        // llama.cpp's own fixed version of Phi-4-mini's template: llama.cpp recognises it as phi3, whose
        // format has a line break after each role tag and <|end|>; the template has none, and ends with
        // eos_token without add_generation_prompt
        Family f = family("llama-cpp-microsoft-Phi-4-mini-instruct.jinja");
        for (List<ChatMessage> c : all()) {
            assertEquals(f.model.applyChatTemplate(c, true).replace("|>\n", "|>"), f.jinja.render(c, true));
            assertEquals(f.model.applyChatTemplate(c, false).replace("|>\n", "|>") + "</s>",
                    f.jinja.render(c, false));
        }
    }

    // ---------------------------------------------------------------- templates llama.cpp does not know

    @Test
    void aTemplateLlamaCppDoesNotKnowIsRenderedAsJinjaAndChats() throws IOException {
        try (LlamaModel model = LlamaModel.load(withTemplate("custom", CUSTOM))) {
            assertEquals(ChatFormat.JINJA, model.chatFormat());
            assertEquals(Optional.empty(), model.plainChatReason());
            List<ChatMessage> chat = List.of(SYSTEM, ChatMessage.user("Tell me a story."));
            // bos_token "<s>" is left out: the tokenizer adds BOS itself
            String prompt = "[[SYSTEM]] You are a helpful assistant.\n[[USER]] Tell me a story.\n[[ASSISTANT]]";
            assertEquals(prompt, model.applyChatTemplate(chat, true));
            try (Session session = model.newSession()) {
                Generation reply = session.chat(chat, TestModels.greedy(8));
                assertEquals(8, reply.tokens().length);
                assertEquals(model.tokenize(prompt, true, true).length, reply.stats().promptTokens());
            }
        }
    }

    @Test
    void aTemplateThatRaisesIsATemplateError() throws IOException {
        String template = "{% if messages | length > 1 %}{{ raise_exception('one message at a time, please') }}"
                + "{% endif %}{{ messages[0].content }}";
        try (LlamaModel model = LlamaModel.load(withTemplate("raises", template));
             Session session = model.newSession()) {
            assertEquals(ChatFormat.JINJA, model.chatFormat());
            assertEquals("Hi", model.applyChatTemplate(List.of(ChatMessage.user("Hi")), true));
            List<ChatMessage> two = List.of(SYSTEM, ChatMessage.user("Hi"));
            for (Runnable call : List.<Runnable>of(() -> model.applyChatTemplate(two, true),
                    () -> session.chat(two, TestModels.greedy(4)))) {
                LlamaException e = assertThrows(LlamaException.class, call::run);
                assertEquals(ErrorCode.TEMPLATE, e.code());
                assertEquals("the model's chat template refused the conversation: one message at a time, please",
                        e.getMessage());
            }
            assertEquals(ChatFormat.JINJA, model.chatFormat(), "a refusal is no failure of the template");
        }
    }

    @Test
    void aMalformedTemplateGetsThePlainFormatWithOneWarning() throws IOException {
        String template = "{{ bos_token }}\n{% for m in messages %}\n{{ m.content }}\n";
        Path file = withTemplate("malformed", template);
        List<String> warnings = warnings(() -> {
            try (LlamaModel model = LlamaModel.load(file)) {
                assertEquals(ChatFormat.PLAIN, model.chatFormat());
                String reason = model.plainChatReason().orElseThrow();
                assertTrue(reason.startsWith(ChatRenderer.UNRENDERABLE), reason);
                assertTrue(reason.contains("Missing end tag: endfor") && reason.endsWith("(line 2)"), reason);
                List<ChatMessage> chat = List.of(SYSTEM, ChatMessage.user("Hi"));
                for (int i = 0; i < 3; i++) {
                    assertEquals("You are a helpful assistant.\n\nUser: Hi\nAssistant:", model.applyChatTemplate(chat, true));
                }
                try (Session session = model.newSession()) {
                    assertEquals(4, session.chat(chat, TestModels.greedy(4)).tokens().length);
                }
            }
        });
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).startsWith("malformed.gguf: conversations get the plain User:/Assistant: format: "
                + ChatRenderer.UNRENDERABLE), warnings.get(0));
        assertTrue(warnings.get(0).endsWith("(line 2)"), warnings.get(0));
    }

    @Test
    void anUnknownFilterIsAnErrorAsInPython() throws IOException {
        try (LlamaModel model = LlamaModel.load(withTemplate("filter", "{% for m in messages %}\n"
                + "{{ m.content | shout }}{% endfor %}"))) {
            assertEquals(ChatFormat.PLAIN, model.chatFormat());
            assertEquals(ChatRenderer.UNRENDERABLE + "no filter named 'shout' (line 2)",
                    model.plainChatReason().orElseThrow());
        }
    }

    @Test
    void aTemplateFailingOnALaterConversationTurnsToThePlainFormat() throws IOException {
        // the first use tries a one-message conversation, which this template renders
        String template = "{% if messages | length > 1 %}{{ no_such_function() }}{% endif %}{{ messages[0].content }}";
        Path file = withTemplate("later", template);
        List<String> warnings = warnings(() -> {
            try (LlamaModel model = LlamaModel.load(file)) {
                assertEquals(ChatFormat.JINJA, model.chatFormat());
                List<ChatMessage> two = List.of(SYSTEM, ChatMessage.user("Hi"));
                assertEquals("You are a helpful assistant.\n\nUser: Hi\nAssistant:", model.applyChatTemplate(two, true));
                assertEquals(ChatFormat.PLAIN, model.chatFormat());
                assertTrue(model.plainChatReason().orElseThrow().contains("no_such_function"));
                assertEquals("User: Hi\n", model.applyChatTemplate(List.of(ChatMessage.user("Hi")), false),
                        "plain from then on");
                model.applyChatTemplate(two, true);
            }
        });
        assertEquals(1, warnings.size(), warnings.toString());
    }

    @Test
    void withoutJinjavaATemplateLlamaCppDoesNotKnowGetsThePlainFormat() throws IOException {
        // the presence check itself: Jinjava is on the test class path
        assertTrue(ChatRenderer.jinjavaPresent());
        Path file = withTemplate("nojinjava", CUSTOM);
        List<String> warnings = warnings(() -> {
            try (LlamaModel model = LlamaModel.load(file)) {
                ChatRenderer renderer = model.newChatRenderer(false); // as when Jinjava is not on the class path
                assertEquals(ChatFormat.PLAIN, renderer.format());
                assertEquals(Optional.of(ChatRenderer.JINJAVA_MISSING), renderer.plainReason());
                assertTrue(ChatRenderer.JINJAVA_MISSING.contains("add com.hubspot.jinjava:jinjava to the class path"));
                assertEquals("User: Hi\nAssistant:", renderer.apply(List.of(ChatMessage.user("Hi")), true));
                renderer.apply(List.of(ChatMessage.user("Hi")), true);
            }
        });
        assertEquals(List.of("nojinjava.gguf: conversations get the plain User:/Assistant: format: "
                + ChatRenderer.JINJAVA_MISSING), warnings);
    }

    @Test
    void aModelWithoutTemplateGetsThePlainFormatWithoutWarning() {
        List<String> warnings = warnings(() -> {
            try (LlamaModel model = LlamaModel.load(TestModels.model())) {
                assertFalse(model.hasChatTemplate());
                assertEquals(ChatFormat.PLAIN, model.chatFormat());
                assertEquals(Optional.of(ChatRenderer.NO_TEMPLATE), model.plainChatReason());
                model.close();
                assertThrows(IllegalStateException.class, model::chatFormat);
                assertThrows(IllegalStateException.class,
                        () -> model.applyChatTemplate(List.of(ChatMessage.user("Hi")), true));
            }
        });
        assertEquals(List.of(), warnings);
    }

    @Test
    void theModelTellsItsBosAndEosTokens() {
        try (LlamaModel model = LlamaModel.load(TestModels.model())) {
            ModelInfo info = model.info();
            assertEquals(1, info.bosToken());
            assertEquals(2, info.eosToken());
            assertTrue(info.addsBos());
            assertFalse(info.addsEos());
            assertEquals("<s>", model.tokenToPiece(info.bosToken(), true));
            assertEquals("</s>", model.tokenToPiece(info.eosToken(), true));
        }
    }

    // ---------------------------------------------------------------- helpers

    /** A family's template in a copy of the test model, and our Jinja rendering of it. */
    private static final class Family implements AutoCloseable {
        final LlamaModel model;
        final JinjaChatTemplate jinja;

        Family(LlamaModel model, String template) {
            this.model = model;
            ModelInfo info = model.info();
            this.jinja = JinjaChatTemplate.of(template, model.tokenToPiece(info.bosToken(), true),
                    model.tokenToPiece(info.eosToken(), true), info.addsBos(), info.addsEos());
            assertEquals(ChatFormat.LLAMA_CPP, model.chatFormat(), "llama.cpp recognises the template");
        }

        /** Our rendering of {@code c} equals llama.cpp's, with and without add_generation_prompt. */
        void assertSame(List<ChatMessage> c) {
            assertSame(c, c, Function.identity());
        }

        /** Our rendering of {@code c} equals {@code change} applied to llama.cpp's rendering of {@code asLlamaCpp}. */
        void assertSame(List<ChatMessage> c, List<ChatMessage> asLlamaCpp, Function<String, String> change) {
            for (boolean add : new boolean[] {true, false}) {
                assertEquals(change.apply(model.applyChatTemplate(asLlamaCpp, add)), jinja.render(c, add),
                        "add_generation_prompt " + add + ", " + c);
            }
        }

        @Override
        public void close() {
            model.close();
        }
    }

    private final List<Family> open = new ArrayList<>();

    /** The family's template in a copy of the test model, closed after the test. */
    private Family family(String file) throws IOException {
        String template;
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream("/chat-templates/" + file)) {
            template = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        Family f = new Family(LlamaModel.load(withTemplate(file, template)), template);
        open.add(f);
        return f;
    }

    @AfterEach
    void closeFamilies() {
        for (Family f : open) {
            f.close();
        }
    }

    private static Path withTemplate(String name, String template) throws IOException {
        return TestGguf.withString(TestModels.model(), dir.resolve(name.replace(".jinja", "") + ".gguf"), KEY, template);
    }

    private static List<List<ChatMessage>> all() {
        List<List<ChatMessage>> all = new ArrayList<>(ENDING_WITH_USER);
        all.add(ENDING_WITH_ASSISTANT);
        return all;
    }

    /**
     * Llama 3's system message: the knowledge cut-off and the date before the system text (or alone, see
     * {@link #llamaEmptySystem}).
     */
    private static List<ChatMessage> withLlamaDate(List<ChatMessage> c, String date) {
        String header = "Cutting Knowledge Date: December 2023\nToday Date: " + date + "\n\n";
        List<ChatMessage> out = new ArrayList<>(c);
        if (c.get(0).role() == ChatMessage.Role.SYSTEM) {
            out.set(0, ChatMessage.system(header + c.get(0).content()));
        } else {
            out.add(0, ChatMessage.system(header));
        }
        return out;
    }

    /**
     * Without a system message, Llama 3's template ends its system turn with the date line and an empty line;
     * llama.cpp trims a message's text, so its rendering of the date alone as the system message ends with
     * the date line: the empty line is put back.
     */
    private static Function<String, String> llamaEmptySystem(List<ChatMessage> c) {
        return c.get(0).role() == ChatMessage.Role.SYSTEM ? Function.identity()
                : s -> s.replaceFirst("(Today Date: [^\n]*)<\\|eot_id\\|>", "$1\n\n<|eot_id|>");
    }

    /** The conversation with its system message moved to just before the last user message. */
    private static List<ChatMessage> systemBeforeLastUser(List<ChatMessage> c) {
        if (c.get(0).role() != ChatMessage.Role.SYSTEM) {
            return c;
        }
        List<ChatMessage> out = new ArrayList<>(c.subList(1, c.size()));
        int lastUser = out.size() - 1;
        while (out.get(lastUser).role() != ChatMessage.Role.USER) {
            lastUser--;
        }
        out.add(lastUser, c.get(0));
        return out;
    }

    /** strftime_now("%d %b %Y") now. */
    private static String today() {
        return ZonedDateTime.now().format(DateTimeFormatter.ofPattern("dd MMM yyyy", Locale.US));
    }

    /** The library's warnings ({@code dev.llamaspec}; System.Logger goes to java.util.logging) while {@code run} runs. */
    private static List<String> warnings(Runnable run) {
        Logger log = Logger.getLogger("dev.llamaspec");
        List<String> seen = new CopyOnWriteArrayList<>();
        Handler handler = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getLevel() == Level.WARNING) {
                    seen.add(new SimpleFormatter().formatMessage(r));
                }
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        log.addHandler(handler);
        try {
            run.run();
        } finally {
            log.removeHandler(handler);
        }
        return seen;
    }
}
