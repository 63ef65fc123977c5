package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Statistics and training reports cross JNI by the engine's names. */
class GenerationStatsTest extends WithTestModel {
    private static final String[] NAMES = {"n_prompt", "n_prompt_reused", "n_generated", "n_steps", "n_drafted",
        "n_accepted", "n_aux", "t_prompt_us", "t_first_us", "t_gen_us", "t_draft_us", "t_verify_us", "n_threads"};

    @Test
    void fieldsAreReadByNameInAnyOrder() {
        long[] values = {1, 2, 3, 4, 5, 6, 7, 8000, 9000, 10000, 11000, 12000, 13};
        GenerationStats expected = new GenerationStats(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13);
        assertEquals(expected, GenerationStats.fromNative(NAMES, values));
        // reversed, with a counter the record does not know
        String[] names = new String[NAMES.length + 1];
        long[] reversed = new long[values.length + 1];
        for (int i = 0; i < NAMES.length; i++) {
            names[NAMES.length - 1 - i] = NAMES[i];
            reversed[NAMES.length - 1 - i] = values[i];
        }
        names[NAMES.length] = "n_future";
        reversed[NAMES.length] = 99;
        assertEquals(expected, GenerationStats.fromNative(names, reversed));
    }

    @Test
    void aMissingCounterIsAnIllegalState() {
        String[] names = NAMES.clone();
        names[6] = "n_window";
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> GenerationStats.fromNative(names, new long[names.length]));
        assertTrue(e.getMessage().contains("'n_aux'"), e.getMessage());
    }

    @Test
    void fieldsAreTheEnginesCounters() {
        String prompt = "Tom had a red ball. Tom had a red ball. Tom had a";
        try (Session session = model.newSession(SessionOptions.builder().kvCacheF32(true).build())) {
            // lookahead without the budget: the whole 4 x 2 window at every step but the first
            Generation g = session.generate(prompt, TestModels.greedy(40).toBuilder()
                    .speculation(Speculation.lookahead(4, 3, 4).withBudget(false)).build());
            GenerationStats s = g.stats();
            assertEquals(model.tokenize(prompt).length, s.promptTokens(), s.toString());
            assertEquals(g.tokens().length, s.generatedTokens(), s.toString());
            assertTrue(s.windowTokens() > 0, s.toString());
            assertEquals(8 * (s.steps() - 1), s.windowTokens(), s.toString());
            assertEquals(s.generatedTokens(), s.steps() + s.acceptedTokens(), s.toString());
            assertTrue(s.verifyMillis() > 0 && s.generationMillis() >= 0, s.toString());
            assertTrue(s.threads() >= 1 && s.threads() <= ThreadsTest.automaticMax(), s.toString());

            // prompt lookup on a repetitive prompt drafts and accepts; the repeated prompt is reused
            Generation lookup = session.generate(prompt, TestModels.greedy(40).toBuilder()
                    .speculation(Speculation.promptLookup().withBudget(false)).build());
            GenerationStats l = lookup.stats();
            assertTrue(l.draftedTokens() > 0 && l.acceptedTokens() > 0, l.toString());
            assertTrue(l.reusedPromptTokens() > 0 && l.reusedPromptTokens() <= l.promptTokens(), l.toString());
            assertEquals(0, l.windowTokens(), l.toString());

            // plain decoding: one token per step, nothing drafted
            GenerationStats p = session.generate(prompt, TestModels.greedy(20)).stats();
            assertEquals(0, p.draftedTokens(), p.toString());
            assertEquals(p.generatedTokens(), p.steps(), p.toString());
        }
    }

    @Test
    void trainingReportsAreReadByName() {
        String[] names = {"time_limited", "seconds_train", "seconds_data", "seconds", "loss", "loss_first",
            "n_tokens", "n_eval", "n_train", "examples", "steps", "unused"};
        double[] values = {1, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 42};
        String[] listNames = {"top5", "top1", "top5_before", "top1_before", "accuracy"};
        float[][] lists = {{0.5f, 0.25f}, {0.25f, 0.125f}, {0.75f, 0.5f}, {0.5f, 0.375f}, {}};
        MedusaTrainingReport r = MedusaTrainingReport.fromNative(names, values, listNames, lists);
        assertEquals(new MedusaTrainingReport(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, true, List.of(0.5, 0.375),
                List.of(0.75, 0.5), List.of(0.25, 0.125), List.of(0.5, 0.25)), r);
        assertEquals(2, r.heads());
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> MedusaTrainingReport.fromNative(names, values, new String[] {"top1"}, new float[][] {{1f}}));
        assertTrue(e.getMessage().contains("'top1_before'"), e.getMessage());
        String[] noSteps = names.clone();
        noSteps[10] = "step";
        e = assertThrows(IllegalStateException.class,
                () -> MedusaTrainingReport.fromNative(noSteps, values, listNames, lists));
        assertTrue(e.getMessage().contains("'steps'"), e.getMessage());
    }
}
