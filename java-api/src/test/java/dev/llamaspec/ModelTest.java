package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Model information, tokenizer and chat rendering. */
class ModelTest {
    private static LlamaModel model;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModels.model(), ModelOptions.builder().threads(2).contextSize(256).build());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void info() {
        ModelInfo info = model.info();
        assertEquals("llama", info.architecture());
        assertEquals(512, info.vocabularySize());
        assertEquals(64, info.embeddingSize());
        assertEquals(5, info.layerCount());
        assertEquals(2048, info.trainingContextSize());
        assertTrue(info.parameterCount() > 200_000 && info.parameterCount() < 400_000, info.toString());
        assertTrue(info.sizeBytes() > 1_000_000, info.toString());
        assertFalse(info.chatTemplate().isPresent());
        assertEquals(model.path(), TestModels.model().toAbsolutePath());
        // the tests' jar carries only ggml's CPU backends: the CPU alone, whatever gpuLayers says
        assertEquals(1, info.devices().size(), info.toString());
        assertTrue(info.devices().get(0).startsWith("CPU ("), info.toString());
        assertFalse(info.onGpu());
    }

    @Test
    void aLoadSaysAtInfoThatWithoutAGpuBackendTheModelRunsOnTheCpu() {
        java.util.logging.Logger jul = java.util.logging.Logger.getLogger("dev.llamaspec");
        java.util.List<java.util.logging.LogRecord> records = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Handler handler = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord r) {
                records.add(r);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        jul.addHandler(handler);
        try (LlamaModel again = LlamaModel.load(TestModels.model())) {
            String messages = records.stream()
                    .map(r -> r.getLevel() + " " + java.text.MessageFormat.format(r.getMessage(), r.getParameters()))
                    .toList().toString();
            assertTrue(messages.contains("INFO " + again.path() + " runs on the CPU (CPU (")
                    && messages.contains("no GPU is available (ggml backends: CPU (1 device)), so gpuLayers -1 has no effect"),
                    messages);
            // the CPU, and ggml's RPC client, which has no devices until a model names RPC servers
            assertEquals(List.of(new Backend("CPU", 1)),
                    LlamaModel.backends().stream().filter(b -> b.devices() > 0).toList());
            assertTrue(LlamaModel.backends().stream().allMatch(b -> b.name().equals("CPU") || b.name().equals("RPC")),
                    LlamaModel.backends().toString());
        } finally {
            jul.removeHandler(handler);
        }
    }

    @Test
    void modelDefaultsReachSessions() {
        try (Session session = model.newSession()) {
            assertEquals(256, session.contextSize());
        }
        try (Session session = model.newSession(SessionOptions.builder().contextSize(512).build())) {
            assertEquals(512, session.contextSize());
        }
    }

    @Test
    void tokenizerRoundTrip() {
        String text = "Lily and Ben went to the park. They saw a big dog!";
        int[] tokens = model.tokenize(text);
        assertEquals(1, tokens[0], "BOS first");
        assertEquals(" " + text, model.detokenize(tokens), "SentencePiece adds a leading space");
        int[] plain = model.tokenize(text, false, false);
        assertEquals(tokens.length - 1, plain.length);
        assertEquals("<s>", model.tokenToPiece(1, true));
        assertEquals("", model.tokenToPiece(1, false));
    }

    @Test
    void chatWithoutTemplateUsesThePlainFallback() {
        List<ChatMessage> chat = List.of(ChatMessage.system("You tell stories."), ChatMessage.user("A story please."),
                ChatMessage.assistant("Once upon a time."), ChatMessage.user("Another one."));
        assertEquals("You tell stories.\n\nUser: A story please.\nAssistant: Once upon a time.\nUser: Another one.\n"
                + "Assistant:", model.applyChatTemplate(chat, true));
        try (Session session = model.newSession()) {
            Generation reply = session.chat(chat, TestModels.greedy(12));
            assertEquals(12, reply.tokens().length);
        }
    }
}
