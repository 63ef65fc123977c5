package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Speculation through the Java API: same output as plain decoding, stats, options. */
class SpeculationTest extends WithTestModel {

    @Test
    void everyStrategyGivesPlainGreedyOutput() {
        List<Speculation> strategies = List.of(Speculation.promptLookup(), Speculation.tokenRecycling(),
                Speculation.auto(), Speculation.auto().withBudget(false), Speculation.lookahead(),
                Speculation.lookahead(5, 3, 4).withBudget(false),
                Speculation.promptLookup(2, 3, 2).withMaxDraftTokens(5).withMaxDepth(3).withBudget(false));
        // F32 keys and values keep batch-size rounding far below the model's near-ties (see SessionOptions)
        try (Session session = model.newSession(SessionOptions.builder().kvCacheF32(true).build())) {
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
        try (Session session = model.newSession(SessionOptions.builder().kvCacheF32(true).build())) {
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
}
