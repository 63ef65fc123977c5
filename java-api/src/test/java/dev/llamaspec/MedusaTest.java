package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Medusa heads through the Java API: loading, the checks against the model, generation. */
class MedusaTest extends WithTestModel {
    @TempDir
    Path dir;

    @Test
    void identityHeadsDraftAndGivePlainGreedyOutput() throws IOException {
        Path file = TestHeads.identity(model, dir, 3, model.fingerprint());
        try (MedusaHeads heads = MedusaHeads.load(model, file);
                Session session = model.newSession(SessionOptions.builder().strictNumerics(true).build())) {
            assertEquals(3, heads.heads());
            assertEquals(1, heads.layers());
            assertEquals(model.info().embeddingSize(), heads.hiddenSize());
            assertEquals(model.info().vocabularySize(), heads.vocabSize());
            assertTrue(heads.sharedOutput());
            assertEquals(model.fingerprint(), heads.fingerprint());
            assertFalse(heads.hasAccuracy());
            assertThrows(IllegalStateException.class, () -> heads.accuracy(0, 0));
            List<Speculation> strategies = List.of(Speculation.medusa(heads),
                    Speculation.medusa(heads).withBudget(false),
                    Speculation.medusa(heads).withStaticTree(true).withBudget(false).withCandidatesPerHead(3));
            for (String prompt : TestModels.storyOpenings(3)) {
                Generation plain = session.generate(prompt, TestModels.greedy(64));
                for (Speculation s : strategies) {
                    Generation g = session.generate(prompt, TestModels.greedy(64).toBuilder().speculation(s).build());
                    assertArrayEquals(plain.tokens(), g.tokens(), s + " on \"" + prompt + "\"");
                    if (!s.budget()) {
                        assertTrue(g.stats().draftedTokens() > 0, g.stats().toString());
                    }
                }
            }
            // sampling with a seed works, exact and with the lossy typical acceptance
            GenerationOptions sampled = GenerationOptions.builder().maxTokens(48).temperature(0.8f).seed(11).build();
            Generation exact = session.generate("Once upon a time", sampled.toBuilder()
                    .speculation(Speculation.medusa(heads).withBudget(false)).build());
            assertTrue(exact.stats().generatedTokens() > 0);
            Generation typical = session.generate("Once upon a time", sampled.toBuilder()
                    .speculation(Speculation.medusa(heads).withBudget(false).withLossyTypicalAcceptance(0.09f, 0.3f))
                    .build());
            assertTrue(typical.stats().generatedTokens() > 0);
        }
    }

    @Test
    void closingHeadsAfterTheGenerationBeganIsSafeAndLaterUseFailsClearly() throws IOException {
        Path file = TestHeads.identity(model, dir, 2, model.fingerprint());
        MedusaHeads heads = MedusaHeads.load(model, file);
        Speculation medusa = Speculation.medusa(heads).withBudget(false);
        try (Session session = model.newSession();
                TokenStream stream = session.stream("Once upon a time",
                        TestModels.greedy(48).toBuilder().speculation(medusa).build())) {
            heads.close();
            heads.close(); // idempotent
            int n = 0;
            for (TextChunk chunk : stream) {
                n += chunk.tokens().length;
            }
            assertTrue(n > 0);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> session.generate("Once",
                    TestModels.greedy(8).toBuilder().speculation(medusa).build()));
            assertTrue(e.getMessage().contains("Medusa heads are closed"), e.getMessage());
            // the session still works
            assertTrue(session.generate("Once", TestModels.greedy(8)).tokens().length > 0);
        }
    }

    @Test
    void headsForAnotherModelOrNotHeadsAreRefusedWithTheReason() throws IOException {
        LlamaException other = assertThrows(LlamaException.class,
                () -> MedusaHeads.load(model, TestHeads.identity(model, dir, 2, "0123456789abcdef")));
        assertTrue(other.getMessage().contains("made for another model"), other.getMessage());

        ModelInfo info = model.info();
        Path wide = TestHeads.write(dir.resolve("wide.gguf"), "medusa", 1, 1, info.embeddingSize() * 2,
                info.vocabularySize(), model.fingerprint());
        LlamaException size = assertThrows(LlamaException.class, () -> MedusaHeads.load(model, wide));
        assertTrue(size.getMessage().contains("hidden size " + info.embeddingSize() * 2), size.getMessage());

        Path notHeads = TestHeads.write(dir.resolve("llama.gguf"), "llama", 1, 1, info.embeddingSize(),
                info.vocabularySize(), model.fingerprint());
        LlamaException arch = assertThrows(LlamaException.class, () -> MedusaHeads.load(model, notHeads));
        assertTrue(arch.getMessage().contains("not a Medusa heads file"), arch.getMessage());

        LlamaException missing = assertThrows(LlamaException.class,
                () -> MedusaHeads.load(model, dir.resolve("missing.gguf")));
        assertTrue(missing.getMessage().contains("heads file not found"), missing.getMessage());

        Path truncated = dir.resolve("truncated.gguf");
        byte[] full = Files.readAllBytes(TestHeads.identity(model, dir, 2, model.fingerprint()));
        Files.write(truncated, java.util.Arrays.copyOf(full, full.length - 100));
        assertThrows(LlamaException.class, () -> MedusaHeads.load(model, truncated));

        // the model's fingerprint is stable and 16 hex digits
        assertEquals(model.fingerprint(), model.fingerprint());
        assertTrue(model.fingerprint().matches("[0-9a-f]{16}"), model.fingerprint());
    }

    @Test
    void headsOfOneModelObjectCannotServeAnotherAndOptionsAreChecked() throws IOException {
        Path file = TestHeads.identity(model, dir, 2, model.fingerprint());
        try (LlamaModel second = LlamaModel.load(TestModels.model());
                MedusaHeads heads = MedusaHeads.load(model, file);
                Session session = second.newSession()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> session.generate("Once",
                    TestModels.greedy(8).toBuilder().speculation(Speculation.medusa(heads)).build()));
            assertTrue(e.getMessage().contains("loaded for another model"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Speculation.medusa(heads).withCandidatesPerHead(0));
            assertThrows(IllegalArgumentException.class,
                    () -> Speculation.medusa(heads).withLossyTypicalAcceptance(0f, 0.3f));
            assertThrows(IllegalArgumentException.class,
                    () -> Speculation.medusa(heads).withLossyTypicalAcceptance(0.09f, Float.NaN));
            assertTrue(Speculation.medusa(heads).withLossyTypicalAcceptance(0.09f, 0.3f).toString().contains("LOSSY"));
            assertNotEquals(Speculation.medusa(heads), Speculation.medusa(heads).withStaticTree(true));
            assertEquals(Speculation.medusa(heads), Speculation.medusa(heads));
        }
        assertThrows(IllegalStateException.class, () -> {
            LlamaModel closed = LlamaModel.load(TestModels.model());
            closed.close();
            MedusaHeads.load(closed, file);
        });
    }
}
