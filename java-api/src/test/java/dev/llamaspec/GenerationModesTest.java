package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Blocking, streaming and handler generation; seeds, stop strings, cancellation, KV-cache reuse. */
class GenerationModesTest extends WithTestModel {
    private static final String PROMPT = "Once upon a time";

    @Test
    void blockingStreamingAndHandlerGiveTheSameText() throws Exception {
        for (GenerationOptions options : List.of(TestModels.greedy(80),
                GenerationOptions.builder().maxTokens(80).seed(42).build())) {
            try (Session session = model.newSession()) {
                Generation blocking = session.generate(PROMPT, options);

                StringBuilder streamed = new StringBuilder();
                List<Integer> streamedTokens = new ArrayList<>();
                Generation streamResult;
                try (TokenStream stream = session.stream(PROMPT, options)) {
                    for (TextChunk chunk : stream) {
                        streamed.append(chunk.text());
                        for (int t : chunk.tokens()) {
                            streamedTokens.add(t);
                        }
                    }
                    streamResult = stream.result();
                }

                StringBuilder handled = new StringBuilder();
                AtomicReference<Generation> completed = new AtomicReference<>();
                session.generate(PROMPT, options, new GenerationHandler() {
                    @Override
                    public void onToken(TextChunk chunk) {
                        handled.append(chunk.text());
                    }

                    @Override
                    public void onComplete(Generation generation) {
                        completed.set(generation);
                    }

                    @Override
                    public void onError(Throwable error) {
                        throw new AssertionError(error);
                    }
                });

                Generation async = session.generateAsync(PROMPT, options, new GenerationHandler() {})
                        .get(60, TimeUnit.SECONDS);

                assertEquals(blocking.text(), streamed.toString());
                assertEquals(blocking.text(), streamResult.text());
                assertArrayEquals(blocking.tokens(), streamedTokens.stream().mapToInt(Integer::intValue).toArray());
                assertEquals(blocking.text(), handled.toString());
                assertEquals(blocking.text(), completed.get().text());
                assertEquals(blocking.text(), async.text());
                assertEquals(blocking.stopReason(), streamResult.stopReason());
                assertEquals(model.detokenize(blocking.tokens()), blocking.text());
            }
        }
    }

    @Test
    void seededSamplingIsReproducible() {
        try (Session session = model.newSession()) {
            GenerationOptions seeded = GenerationOptions.builder().temperature(1.0f).maxTokens(40).seed(1234).build();
            String first = session.generate(PROMPT, seeded).text();
            String second = session.generate(PROMPT, seeded).text();
            assertEquals(first, second);
            Set<String> others = new HashSet<>();
            for (long seed = 1; seed <= 4; seed++) {
                others.add(session.generate(PROMPT, seeded.toBuilder().seed(seed).build()).text());
            }
            others.add(first);
            assertTrue(others.size() > 1, "five seeds gave one text: sampling ignores the seed");
        }
    }

    @Test
    void stopStringsCutExactly() {
        try (Session session = model.newSession()) {
            String full = session.generate(PROMPT, TestModels.greedy(64)).text();
            for (String stop : List.of("Lily", " named Lily", ".", "play outside")) {
                int at = full.indexOf(stop);
                assertTrue(at >= 0, "the greedy text should contain '" + stop + "': " + full);
                GenerationOptions options = TestModels.greedy(64).toBuilder().stop("never appears", stop).build();
                Generation cut = session.generate(PROMPT, options);
                assertEquals(full.substring(0, at), cut.text(), "stop string '" + stop + "'");
                assertEquals(StopReason.STOP_STRING, cut.stopReason());

                StringBuilder streamed = new StringBuilder();
                try (TokenStream stream = session.stream(PROMPT, options)) {
                    stream.forEach(c -> streamed.append(c.text()));
                }
                assertEquals(cut.text(), streamed.toString(), "streamed text with stop '" + stop + "'");
            }
        }
    }

    @Test
    void cancellationFromAnotherThreadStopsWithinOneStep() throws Exception {
        try (Session session = model.newSession()) {
            String baseline = session.generate(PROMPT, TestModels.greedy(100)).text();
            AtomicInteger afterCancel = new AtomicInteger(-1);
            AtomicInteger delivered = new AtomicInteger();
            AtomicReference<Generation> result = new AtomicReference<>();
            GenerationOptions options = TestModels.greedy(100_000).toBuilder().build();
            session.generate(PROMPT, options, new GenerationHandler() {
                @Override
                public void onToken(TextChunk chunk) {
                    if (afterCancel.get() >= 0) {
                        afterCancel.incrementAndGet();
                    }
                    if (delivered.incrementAndGet() == 5) {
                        Thread canceller = new Thread(session::cancel);
                        canceller.start();
                        try {
                            canceller.join();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        afterCancel.set(0);
                    }
                }

                @Override
                public void onComplete(Generation generation) {
                    result.set(generation);
                }
            });
            assertEquals(StopReason.CANCELLED, result.get().stopReason());
            assertTrue(afterCancel.get() <= 1, afterCancel.get() + " steps ran after cancel()");
            assertFalse(session.isGenerating());
            // the session is usable, and its KV cache consistent, after the cancellation
            assertEquals(baseline, session.generate(PROMPT, TestModels.greedy(100)).text());
        }
    }

    @Test
    void closingAStreamEarlyCancelsItAndFreesTheSession() {
        try (Session session = model.newSession()) {
            String baseline = session.generate(PROMPT, TestModels.greedy(30)).text();
            TokenStream stream = session.stream(PROMPT, TestModels.greedy(1000));
            int n = 0;
            for (TextChunk ignored : stream) {
                if (++n == 3) {
                    break;
                }
            }
            assertTrue(session.isGenerating());
            stream.close();
            assertFalse(session.isGenerating());
            assertEquals(StopReason.CANCELLED, stream.result().stopReason());
            assertEquals(baseline, session.generate(PROMPT, TestModels.greedy(30)).text());
        }
    }

    @Test
    void aFailingHandlerEndsTheGenerationAndReachesOnError() {
        try (Session session = model.newSession()) {
            AtomicReference<Throwable> error = new AtomicReference<>();
            AtomicReference<Generation> completed = new AtomicReference<>();
            session.generate(PROMPT, TestModels.greedy(50), new GenerationHandler() {
                @Override
                public void onToken(TextChunk chunk) {
                    throw new IllegalArgumentException("handler failure");
                }

                @Override
                public void onComplete(Generation generation) {
                    completed.set(generation);
                }

                @Override
                public void onError(Throwable e) {
                    error.set(e);
                }
            });
            assertEquals("handler failure", error.get().getMessage());
            assertNull(completed.get());
            assertFalse(session.isGenerating());
            assertEquals(10, session.generate(PROMPT, TestModels.greedy(10)).tokens().length);
        }
    }

    @Test
    void followUpPromptsReuseTheKvCache() {
        try (Session session = model.newSession()) {
            Generation first = session.generate(PROMPT, TestModels.greedy(20));
            int promptTokens = model.tokenize(PROMPT).length;
            assertEquals(0, first.stats().reusedPromptTokens());
            String followUp = PROMPT + first.text() + " The end.";
            Generation second = session.generate(followUp, TestModels.greedy(20));
            assertTrue(second.stats().reusedPromptTokens() >= promptTokens + 15,
                    "reused " + second.stats().reusedPromptTokens() + " of " + second.stats().promptTokens());

            // reuse gives the same result as a fresh session
            try (Session fresh = model.newSession()) {
                assertEquals(fresh.generate(followUp, TestModels.greedy(20)).text(), second.text());
            }
            session.reset();
            assertEquals(0, session.generate(followUp, TestModels.greedy(5)).stats().reusedPromptTokens());
        }
    }

    @Test
    void statsDescribeTheGeneration() {
        try (Session session = model.newSession()) {
            Generation g = session.generate(PROMPT, TestModels.greedy(32));
            GenerationStats s = g.stats();
            assertEquals(model.tokenize(PROMPT).length, s.promptTokens());
            assertEquals(32, s.generatedTokens());
            assertEquals(32, s.steps());
            assertEquals(1.0, s.tokensPerStep(), 1e-9);
            assertEquals(0, s.draftedTokens());
            assertTrue(s.promptMillis() > 0 && s.generationMillis() > 0 && s.tokensPerSecond() > 0, s.toString());
            assertTrue(s.timeToFirstTokenMillis() >= s.promptMillis(), s.toString());
        }
    }

    @Test
    void differentSessionsOfOneModelAreIndependent() {
        try (Session a = model.newSession(); Session b = model.newSession()) {
            String textA = a.generate(PROMPT, TestModels.greedy(20)).text();
            b.generate("The dog", TestModels.greedy(20));
            assertEquals(textA, a.generate(PROMPT, TestModels.greedy(20)).text());
            assertNotEquals(a, b);
        }
    }
}
