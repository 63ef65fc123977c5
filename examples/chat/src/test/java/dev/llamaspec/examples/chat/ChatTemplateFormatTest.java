package dev.llamaspec.examples.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.llamaspec.ChatMessage;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.TestGguf;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Chat mode on models whose chat template llama.cpp does not know: copies of the test model with one. */
class ChatTemplateFormatTest {
    static final GenerationOptions GREEDY = GenerationOptions.builder().temperature(0).maxTokens(12).build();

    @TempDir
    static Path dir;

    static ChatEngine engine(Path model, Mode mode) {
        return ChatEngine.open(new ChatEngine.ModelFiles(model, null, null), TestModel.ONE_THREAD,
                SessionOptions.defaults(), mode, GREEDY,
                SpeculationChoice.of("none", null, true, null, SpeculationChoice.MedusaSettings.DEFAULT));
    }

    static Path withTemplate(String name, String template) throws IOException {
        return TestGguf.withString(TestModel.path(), dir.resolve(name + ".gguf"), "tokenizer.chat_template", template);
    }

    @Test
    void aCustomTemplateIsRenderedAsJinjaAndTheReplyIsRecorded() throws IOException {
        Path model = withTemplate("custom", "{% for m in messages %}<<{{ m.role }}>> {{ m.content }}\n{% endfor %}"
                + "{% if add_generation_prompt %}<<assistant>>{% endif %}");
        try (ChatEngine engine = engine(model, Mode.AUTO)) {
            assertEquals(Mode.CHAT, engine.mode(), "a model with a chat template chats");
            assertEquals("chat mode (the model's chat template, rendered as Jinja)", engine.modeDescription());
            assertEquals(List.of(), engine.options().stop(), "no plain-format stop string");
            ChatEngine.Reply reply = engine.reply("Tell me a story.", s -> { }, () -> false);
            assertTrue(reply.generation().tokens().length > 0);
            assertEquals(1, engine.conversation().exchanges().size());
            assertEquals(reply.generation().text(), engine.conversation().exchanges().get(0).reply());
            String prompt = engine.model().applyChatTemplate(List.of(ChatMessage.user("Tell me a story.")), true);
            assertEquals("<<user>> Tell me a story.\n<<assistant>>", prompt);
        }
    }

    @Test
    void aTemplateJinjaCannotRenderGetsThePlainFormatAndSaysWhy() throws IOException {
        Path model = withTemplate("malformed", "{% for m in messages %}{{ m.content }}");
        try (ChatEngine engine = engine(model, Mode.CHAT)) {
            String mode = engine.modeDescription();
            assertTrue(mode.startsWith("chat mode (plain User:/Assistant: format: llama.cpp does not know the model's"
                    + " chat template, and Jinjava cannot render it: "), mode);
            assertTrue(mode.endsWith("(line 1))"), mode);
            assertEquals(List.of(ChatEngine.PLAIN_FORMAT_STOP), engine.options().stop());
            engine.reply("Tell me a story.", s -> { }, () -> false);
            assertEquals(1, engine.conversation().exchanges().size());
        }
    }

    @Test
    void aModelWithoutTemplateSaysSo() {
        try (ChatEngine engine = engine(TestModel.path(), Mode.CHAT)) {
            assertEquals("chat mode (no chat template: plain User:/Assistant: format)", engine.modeDescription());
        }
    }
}
