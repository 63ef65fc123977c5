package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Speculation through the Java API: same output as plain decoding, stats, options. */
class SpeculationTest extends WithTestModel {

    @Test
    void everyStrategyGivesPlainGreedyOutput() {
        List<Speculation> strategies = List.of(Speculation.promptLookup(), Speculation.tokenRecycling(),
                Speculation.auto(), Speculation.auto().withBudget(false), Speculation.lookahead(),
                Speculation.lookahead(5, 3, 4).withBudget(false),
                Speculation.promptLookup(2, 3, 2).withMaxDraftTokens(5).withMaxDepth(3).withBudget(false));
        // strict numerics: batched and single evaluation agree, so greedy output is plain greedy output (see SessionOptions)
        try (Session session = model.newSession(SessionOptions.builder().strictNumerics(true).build())) {
            for (String prompt : TestModels.storyOpenings(6)) {
                Generation plain = session.generate(prompt, TestModels.greedy(96));
                for (Speculation speculation : strategies) {
                    GenerationOptions options = TestModels.greedy(96).toBuilder().speculation(speculation).build();
                    Generation spec = session.generate(prompt, options);
                    assertArrayEquals(plain.tokens(), spec.tokens(), speculation + " on \"" + prompt + "\"");
                    assertEquals(plain.text(), spec.text());
                    assertEquals(plain.stopReason(), spec.stopReason());
                    GenerationStats s = spec.stats();
                    assertTrue(s.acceptedTokens() <= s.draftedTokens(), s.toString());
                    assertEquals(s.generatedTokens(), s.steps() + s.acceptedTokens(), s.toString());
                    if (speculation.kind() == Speculation.Kind.LOOKAHEAD && !speculation.budget()) {
                        // the whole 5 x 2 window is evaluated at every step but the first
                        assertEquals(10 * (s.steps() - 1), s.windowTokens(), s.toString());
                    }
                }
            }
        }
    }

    @Test
    void speculationReallyAcceptsDraftsAndTakesFewerSteps() {
        String repetitive = "Tom had a red ball. Tom had a red ball. Tom had a red ball. Tom had a red ball.";
        try (Session session = model.newSession()) {
            Generation g = session.generate(repetitive, TestModels.greedy(64).toBuilder()
                    .speculation(Speculation.auto().withBudget(false)).build());
            assertTrue(g.stats().acceptedTokens() > 10, g.stats().toString());
            assertTrue(g.stats().steps() < g.stats().generatedTokens(), g.stats().toString());
            assertTrue(g.stats().tokensPerStep() > 1.0, g.stats().toString());
        }
    }

    @Test
    void strategiesChangeBetweenGenerationsAndStopConditionsHold() {
        try (Session session = model.newSession()) {
            String prompt = "Once upon a time";
            String full = session.generate(prompt, TestModels.greedy(64)).text();
            int at = full.indexOf("Lily");
            for (Speculation s : List.of(Speculation.auto().withBudget(false), Speculation.none(),
                    Speculation.promptLookup().withBudget(false), Speculation.tokenRecycling().withBudget(false),
                    Speculation.lookahead().withBudget(false))) {
                GenerationOptions options = TestModels.greedy(64).toBuilder().speculation(s).stop("Lily").build();
                Generation cut = session.generate(prompt, options);
                assertEquals(full.substring(0, at), cut.text(), s.toString());
                assertEquals(StopReason.STOP_STRING, cut.stopReason());
                Generation limited = session.generate(prompt, TestModels.greedy(7).toBuilder().speculation(s).build());
                assertEquals(7, limited.tokens().length, s.toString());
                assertEquals(StopReason.MAX_TOKENS, limited.stopReason());
            }
            // after speculative generations that stopped mid-step the cache is consistent
            assertEquals(full, session.generate(prompt, TestModels.greedy(64)).text());
        }
    }

    @Test
    void withASeedSpeculativeSamplingGivesPlainSamplingsText() {
        String prompt = "Tom had a red ball. Tom had a";
        try (Session session = model.newSession(SessionOptions.builder().strictNumerics(true).build())) {
            for (long seed = 1; seed <= 5; seed++) {
                GenerationOptions plain = GenerationOptions.builder().temperature(0.9f).maxTokens(48).seed(seed).build();
                String expected = session.generate(prompt, plain).text();
                for (Speculation s : List.of(Speculation.auto(), Speculation.auto().withBudget(false),
                        Speculation.promptLookup().withBudget(false), Speculation.lookahead(4, 3, 4).withBudget(false))) {
                    assertEquals(expected, session.generate(prompt, plain.toBuilder().speculation(s).build()).text(),
                            s + " with seed " + seed);
                }
            }
        }
    }

    @Test
    void invalidSpeculationIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> Speculation.promptLookup(3, 2, 1));
        assertThrows(IllegalArgumentException.class, () -> Speculation.promptLookup(0, 2, 1));
        assertThrows(IllegalArgumentException.class, () -> Speculation.tokenRecycling(9));
        assertThrows(IllegalArgumentException.class, () -> Speculation.auto().withMaxDraftTokens(0));
        assertThrows(IllegalArgumentException.class, () -> Speculation.auto().withMaxDraftTokens(1000));
        assertThrows(IllegalArgumentException.class, () -> Speculation.auto().withMaxDepth(-1));
        assertThrows(IllegalArgumentException.class, () -> Speculation.lookahead(0, 4, 4));
        assertThrows(IllegalArgumentException.class, () -> Speculation.lookahead(8, 1, 4));
        assertThrows(IllegalArgumentException.class, () -> Speculation.lookahead(8, 4, 33));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Speculation.lookahead(64, 4, 4));
        assertTrue(e.getMessage().contains("windowWidth"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Speculation.parse("medusa-please"));
        assertEquals(Speculation.lookahead(8, 4, 8), Speculation.parse("lookahead"));
        assertEquals(Speculation.auto(), Speculation.parse("auto"));
        assertEquals(Speculation.none(), Speculation.parse("none"));
    }

    @Test
    void draftModelGivesPlainGreedyOutputAndSampledDraftsAreAccepted() {
        try (LlamaModel draft = LlamaModel.load(TestModels.model());
             Session session = model.newSession(SessionOptions.builder().strictNumerics(true).build())) {
            model.checkDraftModel(draft);
            List<Speculation> strategies = List.of(Speculation.draftModel(draft),
                    Speculation.draftModel(draft).withBudget(false), Speculation.draftModel(model, 0f, 0.9f)
                            .withBudget(false).withMaxDepth(4).withMaxDraftTokens(6));
            for (String prompt : TestModels.storyOpenings(3)) {
                Generation plain = session.generate(prompt, TestModels.greedy(80));
                for (Speculation speculation : strategies) {
                    GenerationOptions options = TestModels.greedy(80).toBuilder().speculation(speculation).build();
                    Generation spec = session.generate(prompt, options);
                    assertArrayEquals(plain.tokens(), spec.tokens(), speculation + " on \"" + prompt + "\"");
                    GenerationStats s = spec.stats();
                    assertEquals(s.generatedTokens(), s.steps() + s.acceptedTokens(), s.toString());
                    if (!speculation.budget()) {
                        assertTrue(s.acceptedTokens() > 10, speculation + ": " + s);
                    }
                }
            }
            // Sampling: drafts drawn from the draft model and accepted by rejection sampling; the seed fixes
            // the draws.
            GenerationOptions sampling = GenerationOptions.builder().temperature(0.9f).maxTokens(48).seed(11)
                    .speculation(Speculation.draftModel(draft).withBudget(false)).build();
            Generation a = session.generate("Tom had a red ball. Tom had a", sampling);
            Generation b = session.generate("Tom had a red ball. Tom had a", sampling);
            assertEquals(a.text(), b.text());
            assertTrue(a.stats().draftedTokens() > 0 && a.stats().acceptedTokens() > 0, a.stats().toString());
            assertTrue(a.stats().acceptedTokens() <= a.stats().draftedTokens(), a.stats().toString());
        }
    }

    @Test
    void draftModelWithAnotherVocabularyIsRefused(@TempDir Path dir) throws Exception {
        Path renamed = dir.resolve("renamed.gguf");
        TestModels.writeWithRenamedToken(renamed, 300);
        try (LlamaModel other = LlamaModel.load(renamed); Session session = model.newSession()) {
            LlamaException e = assertThrows(LlamaException.class, () -> model.checkDraftModel(other));
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains("vocabulary does not match") && e.getMessage().contains("token 300"),
                    e.getMessage());
            GenerationOptions options = TestModels.greedy(8).toBuilder()
                    .speculation(Speculation.draftModel(other)).build();
            e = assertThrows(LlamaException.class, () -> session.generate("Once upon a time", options));
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains("token 300"), e.getMessage());
            // the session is not left busy
            assertEquals(8, session.generate("Once upon a time", TestModels.greedy(8)).tokens().length);
        }
    }

    @Test
    void closedDraftModelFailsCleanly() {
        String prompt = "Tom had a red ball. Tom had a";
        try (Session session = model.newSession()) {
            LlamaModel draft = LlamaModel.load(TestModels.model());
            Speculation speculation = Speculation.draftModel(draft).withBudget(false);
            GenerationOptions options = TestModels.greedy(64).toBuilder().speculation(speculation).build();
            // closed during a generation: the next step fails with a clear message, the session goes on
            try (TokenStream stream = session.stream(prompt, options)) {
                Iterator<TextChunk> chunks = stream.iterator();
                assertTrue(chunks.hasNext());
                chunks.next();
                draft.close();
                LlamaException e = assertThrows(LlamaException.class, () -> {
                    while (chunks.hasNext()) {
                        chunks.next();
                    }
                });
                assertEquals(ErrorCode.STATE, e.code());
                assertTrue(e.getMessage().contains("draft model"), e.getMessage());
            }
            assertEquals(64, session.generate(prompt, TestModels.greedy(64)).tokens().length);
            // closed before: refused when the generation begins, or when the speculation is made
            IllegalStateException closed = assertThrows(IllegalStateException.class,
                    () -> session.generate(prompt, options));
            assertTrue(closed.getMessage().contains("draft model is closed"), closed.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Speculation.draftModel(draft));
            assertEquals(64, session.generate(prompt, TestModels.greedy(64)).tokens().length);
        }
    }

    @Test
    void draftModelSpeculationIsAValue() {
        Speculation.DraftModel a = Speculation.draftModel(model);
        assertEquals(a, Speculation.draftModel(model, 0.3f, 0.6f));
        assertEquals(a.hashCode(), Speculation.draftModel(model, 0.3f, 0.6f).hashCode());
        assertTrue(!a.equals(Speculation.draftModel(model, 0.5f, 0.6f)));
        assertTrue(!a.equals(Speculation.auto()));
        assertEquals(Speculation.Kind.DRAFT_MODEL, a.withBudget(false).kind());
        assertEquals(model, a.withMaxDepth(3).draftModel());
        assertTrue(a.toString().startsWith("Speculation.draftModel(") && a.toString().contains("stories260K"),
                a.toString());
        assertThrows(IllegalArgumentException.class, () -> Speculation.draftModel(model, 1.5f, 0.6f));
        assertThrows(IllegalArgumentException.class, () -> Speculation.draftModel(model, 0.3f, -1f));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Speculation.parse("draft"));
        assertTrue(e.getMessage().contains("Speculation.draftModel"), e.getMessage());
    }
}
