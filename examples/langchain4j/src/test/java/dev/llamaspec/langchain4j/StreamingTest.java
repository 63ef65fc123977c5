package dev.llamaspec.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.llamaspec.Generation;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.StopReason;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** StreamingChatModel.chat(ChatRequest, handler): the order of the events, cancellation, failures. */
class StreamingTest {
    private static LlamaModel model;
    private static LlamaStreamingChatModel streaming;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModel.path(), TestModel.ONE_THREAD);
        streaming = LlamaStreamingChatModel.builder().model(model).sessionOptions(LlamaChatModelTest.STRICT)
                .temperature(0).maxTokens(60).build();
    }

    @AfterAll
    static void close() {
        streaming.close();
        model.close();
    }

    private static ChatRequest request(int maxTokens) {
        return ChatRequest.builder().messages(LlamaChatModelTest.CONVERSATION).maxOutputTokens(maxTokens).build();
    }

    private static Generation reference(int maxTokens) {
        return LlamaChatModelTest.reference(model, LlamaChatModelTest.SAME_CONVERSATION, TestModel.greedy(maxTokens));
    }

    /** Records every callback, in order. */
    static class Recorder implements StreamingChatResponseHandler {
        final List<String> events = new CopyOnWriteArrayList<>();
        final List<String> partials = new CopyOnWriteArrayList<>();
        final List<Thread> threads = new CopyOnWriteArrayList<>();
        final CountDownLatch firstPartial = new CountDownLatch(1);
        final CountDownLatch ended = new CountDownLatch(1);
        volatile LlamaStreamingHandle handle;
        volatile ChatResponse complete;
        volatile Throwable error;

        @Override
        public void onPartialResponse(PartialResponse partial, PartialResponseContext context) {
            events.add("partial");
            partials.add(partial.text());
            threads.add(Thread.currentThread());
            handle = (LlamaStreamingHandle) context.streamingHandle();
            firstPartial.countDown();
        }

        @Override
        public void onCompleteResponse(ChatResponse response) {
            events.add("complete");
            complete = response;
            ended.countDown();
        }

        @Override
        public void onError(Throwable error) {
            events.add("error");
            this.error = error;
            ended.countDown();
        }

        /** The complete reply's text, after waiting for it. */
        String awaitText() throws InterruptedException {
            assertTrue(ended.await(60, TimeUnit.SECONDS), "no complete response nor error");
            if (error != null) {
                throw new AssertionError("the stream failed", error);
            }
            return complete.aiMessage().text();
        }

        /** The generation's outcome, once it has ended and every callback returned. */
        Generation generation() throws Exception {
            assertTrue(firstPartial.await(60, TimeUnit.SECONDS), "no partial response");
            return handle.generation().get(60, TimeUnit.SECONDS);
        }
    }

    @Test
    void partialsThenExactlyOneCompleteResponse() throws Exception {
        Generation expected = reference(60);
        Recorder recorder = new Recorder();
        streaming.chat(request(60), recorder);
        Generation generation = recorder.generation();

        assertTrue(recorder.partials.size() >= 2, recorder.events.toString());
        assertEquals(recorder.partials.size() + 1, recorder.events.size(), recorder.events.toString());
        assertEquals("complete", recorder.events.get(recorder.events.size() - 1), recorder.events.toString());
        assertEquals(expected.text(), String.join("", recorder.partials));
        assertEquals(expected.text(), recorder.complete.aiMessage().text());
        assertEquals(expected.text(), generation.text());
        assertEquals(expected.stats().promptTokens(), recorder.complete.tokenUsage().inputTokenCount());
        assertEquals(expected.stats().generatedTokens(), recorder.complete.tokenUsage().outputTokenCount());
        assertEquals(ChatRequests.finishReason(expected.stopReason()), recorder.complete.finishReason());
        // generated on the streaming executor's thread, not the caller's
        assertNotSame(Thread.currentThread(), recorder.threads.get(0));
    }

    @Test
    void cancelAfterTheFirstPartialStopsTheGenerationAndFreesTheSession() throws Exception {
        Generation uncancelled = reference(400);
        assertTrue(uncancelled.stats().generatedTokens() > 50, uncancelled.toString());
        // one session, so that the next request needs the one the cancelled generation had
        try (LlamaStreamingChatModel oneSession = LlamaStreamingChatModel.builder().model(model).sessionOptions(LlamaChatModelTest.STRICT)
                .temperature(0).maxTokens(400).maxSessions(1).build()) {
            Recorder recorder = new Recorder() {
                @Override
                public void onPartialResponse(PartialResponse partial, PartialResponseContext context) {
                    super.onPartialResponse(partial, context);
                    context.streamingHandle().cancel();
                }
            };
            oneSession.chat(request(400), recorder);
            Generation generation = recorder.generation();

            assertEquals(StopReason.CANCELLED, generation.stopReason());
            assertTrue(recorder.handle.isCancelled());
            assertTrue(generation.stats().generatedTokens() < uncancelled.stats().generatedTokens() / 4,
                    generation.stats() + " against " + uncancelled.stats());
            assertEquals(List.of("partial"), recorder.events, "no callback after cancel()");
            assertEquals(uncancelled.text().substring(0, generation.text().length()), generation.text());

            // the session is free and the model usable: the next request gets the answer the Java API gives
            Recorder next = new Recorder();
            oneSession.chat(request(20), next);
            assertEquals(reference(20).text(), next.awaitText());
        }
    }

    @Test
    void failuresGoToOnError() throws Exception {
        ToolSpecification clock = ToolSpecification.builder().name("clock").build();
        Recorder refused = new Recorder();
        streaming.chat(ChatRequest.builder().messages(LlamaChatModelTest.CONVERSATION).toolSpecifications(clock)
                .build(), refused);
        assertTrue(refused.ended.await(60, TimeUnit.SECONDS));
        assertInstanceOf(UnsupportedFeatureException.class, refused.error);
        assertEquals(List.of("error"), refused.events);

        // a handler that throws: the generation is cancelled and onError gets what it threw
        IllegalStateException thrown = new IllegalStateException("the handler failed");
        Recorder failing = new Recorder() {
            @Override
            public void onPartialResponse(PartialResponse partial, PartialResponseContext context) {
                super.onPartialResponse(partial, context);
                throw thrown;
            }
        };
        streaming.chat(request(60), failing);
        ExecutionException outcome = assertThrows(ExecutionException.class, failing::generation);
        assertSame(thrown, outcome.getCause());
        assertSame(thrown, failing.error);
        assertEquals(List.of("partial", "error"), failing.events);
        Recorder next = new Recorder();
        streaming.chat(request(10), next);
        assertEquals(reference(10).text(), next.awaitText());
    }

    @Test
    void runnableRunStreamsInTheCallingThread() throws Exception {
        try (LlamaStreamingChatModel inline = LlamaStreamingChatModel.builder().model(model).sessionOptions(LlamaChatModelTest.STRICT)
                .temperature(0).maxTokens(20).streamingExecutor(Runnable::run).build()) {
            Recorder recorder = new Recorder();
            inline.chat(request(20), recorder);
            // chat returned after the last callback
            assertEquals(0, recorder.ended.getCount(), recorder.events.toString());
            assertSame(Thread.currentThread(), recorder.threads.get(0));
            assertEquals(reference(20).text(), recorder.complete.aiMessage().text());
        }
    }
}
