package dev.llamaspec.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.llamaspec.ErrorCode;
import dev.llamaspec.LlamaException;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.Session;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Builders, ownership of the model, and use after close. */
class LifecycleTest {
    @TempDir
    Path tmp;

    @Test
    void buildersNeedOneModel() {
        IllegalStateException none = assertThrows(IllegalStateException.class, () -> LlamaChatModel.builder().build());
        assertTrue(none.getMessage().contains("modelPath") && none.getMessage().contains("model(LlamaModel)"),
                none.getMessage());
        assertThrows(IllegalStateException.class, () -> LlamaEmbeddingModel.builder().build());
        try (LlamaModel model = LlamaModel.load(TestModel.path(), TestModel.ONE_THREAD)) {
            IllegalStateException both = assertThrows(IllegalStateException.class,
                    () -> LlamaChatModel.builder().model(model).modelPath(TestModel.path()).build());
            assertTrue(both.getMessage().contains("set one"), both.getMessage());
            assertThrows(IllegalStateException.class,
                    () -> LlamaChatModel.builder().model(model).modelOptions(TestModel.ONE_THREAD).build());
        }
    }

    @Test
    void aMissingModelFileIsNamed() {
        Path missing = tmp.resolve("no-such-model.gguf");
        LlamaException chat = assertThrows(LlamaException.class,
                () -> LlamaChatModel.builder().modelPath(missing).build());
        assertEquals(ErrorCode.MODEL_LOAD, chat.code());
        assertTrue(chat.getMessage().contains(missing.toString()), chat.getMessage());
        LlamaException embeddings = assertThrows(LlamaException.class,
                () -> LlamaEmbeddingModel.builder().modelPath(missing).build());
        assertTrue(embeddings.getMessage().contains(missing.toString()), embeddings.getMessage());
    }

    @Test
    void badOptionsAreRefusedByBuild() {
        IllegalArgumentException temperature = assertThrows(IllegalArgumentException.class,
                () -> LlamaChatModel.builder().modelPath(TestModel.path()).temperature(-1).build());
        assertTrue(temperature.getMessage().contains("temperature"), temperature.getMessage());
        IllegalArgumentException sessions = assertThrows(IllegalArgumentException.class,
                () -> LlamaChatModel.builder().modelPath(TestModel.path()).maxSessions(0).build());
        assertTrue(sessions.getMessage().contains("maxSessions"), sessions.getMessage());
        IllegalArgumentException context = assertThrows(IllegalArgumentException.class,
                () -> LlamaChatModel.builder().modelPath(TestModel.path()).contextSize(-1).build());
        assertTrue(context.getMessage().contains("contextSize"), context.getMessage());
    }

    @Test
    void anOwnedModelIsClosedWithTheAdapter() {
        LlamaChatModel chat = LlamaChatModel.builder().modelPath(TestModel.path()).modelOptions(TestModel.ONE_THREAD)
                .temperature(0).maxTokens(5).build();
        LlamaModel model = chat.model();
        assertTrue(chat.ownsModel());
        assertFalse(chat.chat("Hi").isEmpty());
        chat.close();
        assertTrue(model.isClosed());
        assertTrue(chat.isClosed());
        assertThrows(IllegalStateException.class, () -> chat.chat("Hi"));
        chat.close(); // idempotent

        LlamaStreamingChatModel streaming = LlamaStreamingChatModel.builder().modelPath(TestModel.path())
                .modelOptions(TestModel.ONE_THREAD).build();
        assertTrue(streaming.ownsModel());
        streaming.close();
        assertTrue(streaming.model().isClosed());
        assertThrows(IllegalStateException.class, () -> streaming.chat("Hi", new StreamingTest.Recorder()));

        LlamaEmbeddingModel embeddings = LlamaEmbeddingModel.builder().modelPath(TestModel.path())
                .modelOptions(TestModel.ONE_THREAD).build();
        assertTrue(embeddings.ownsModel());
        embeddings.close();
        assertTrue(embeddings.model().isClosed());
        assertThrows(IllegalStateException.class, () -> embeddings.embedAll(List.of(TextSegment.from("a dog"))));
        assertThrows(IllegalStateException.class, embeddings::dimension);
        embeddings.close();
    }

    @Test
    void aGivenModelStaysTheCallers() {
        try (LlamaModel model = LlamaModel.load(TestModel.path(), TestModel.ONE_THREAD)) {
            LlamaChatModel chat = LlamaChatModel.builder().model(model).maxTokens(5).build();
            LlamaStreamingChatModel streaming = LlamaStreamingChatModel.builder().model(model).build();
            LlamaEmbeddingModel embeddings = LlamaEmbeddingModel.builder().model(model).build();
            assertFalse(chat.ownsModel());
            assertFalse(streaming.ownsModel());
            chat.close();
            streaming.close();
            embeddings.close();
            assertFalse(model.isClosed());
            assertThrows(IllegalStateException.class, () -> chat.chat("Hi"));
            assertThrows(IllegalStateException.class, () -> streaming.chat("Hi", new StreamingTest.Recorder()));
            assertThrows(IllegalStateException.class, () -> embeddings.embed("a dog"));
            try (Session session = model.newSession()) {
                assertFalse(session.generate("Once upon a time", TestModel.greedy(5)).text().isEmpty());
            }
        }
    }

    @Test
    void closingAnOwnedModelMidStreamEndsTheStreamWithOnError() throws Exception {
        LlamaStreamingChatModel chat = LlamaStreamingChatModel.builder().modelPath(TestModel.path())
                .modelOptions(TestModel.ONE_THREAD).temperature(0).maxTokens(400).build();
        CountDownLatch closed = new CountDownLatch(1);
        StreamingTest.Recorder recorder = new StreamingTest.Recorder() {
            @Override
            public void onPartialResponse(PartialResponse partial, PartialResponseContext context) {
                super.onPartialResponse(partial, context);
                try {
                    closed.await(); // the generation goes on after the adapter and its model were closed
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        chat.chat(ChatRequest.builder().messages(LlamaChatModelTest.CONVERSATION).build(), recorder);
        assertTrue(recorder.firstPartial.await(60, TimeUnit.SECONDS));
        chat.close();
        closed.countDown();

        assertTrue(recorder.ended.await(60, TimeUnit.SECONDS));
        assertInstanceOf(IllegalStateException.class, recorder.error);
        assertEquals(List.of("partial", "error"), recorder.events);
        assertTrue(chat.model().isClosed());
    }
}
