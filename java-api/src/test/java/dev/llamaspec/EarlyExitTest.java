package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EarlyExitTest extends WithTestModel {
    private static Path corpus() {
        return TestModels.root().resolve("../shared/corpus/tinystories_train_sample.txt").normalize();
    }

    /** A short training run: a slice of the corpus, few steps, one thread. */
    private static EarlyExit.Builder small() {
        return EarlyExit.builder(2).corpus(corpus()).steps(150).maxTokens(8000).threads(1);
    }

    @Test
    void builderValidatesEveryOption() {
        String message = assertThrows(IllegalArgumentException.class, () -> EarlyExit.builder(0).build()).getMessage();
        assertEquals("layers must be in [1, 4096], got 0", message);
        assertThrows(IllegalArgumentException.class, () -> small().steps(0).build());
        assertThrows(IllegalArgumentException.class, () -> small().batchSize(0).build());
        assertThrows(IllegalArgumentException.class, () -> small().batchSize(70000).build());
        assertThrows(IllegalArgumentException.class, () -> small().learningRate(0).build());
        assertThrows(IllegalArgumentException.class, () -> small().learningRate(Float.NaN).build());
        assertThrows(IllegalArgumentException.class, () -> small().maxTokens(0).build());
        assertThrows(IllegalArgumentException.class, () -> small().holdout(0.9f).build());
        assertThrows(IllegalArgumentException.class, () -> small().threads(-1).build());
        assertThrows(IllegalArgumentException.class, () -> small().seed(-1).build());
        EarlyExit e = EarlyExit.builder(3).build();
        assertEquals(3, e.layers());
        assertEquals(Optional.empty(), e.corpus());
        assertEquals(400, e.steps());
        assertFalse(e.attention(), "the FFN half trains by default");
        assertTrue(small().attention(true).build().attention());
        assertEquals(Optional.of(corpus()), small().build().corpus());
    }

    @Test
    void layersMustBeBelowTheModelsBlockCount(@TempDir Path dir) {
        int blocks = model.info().layerCount();
        Path out = dir.resolve("exit.gguf");
        LlamaException e = assertThrows(LlamaException.class, () -> EarlyExit.builder(blocks).build().make(model, out));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertEquals("early exit keeps 1 .. " + (blocks - 1) + " of the model's " + blocks + " blocks, not " + blocks,
                e.getMessage());
        assertFalse(Files.exists(out));
    }

    @Test
    void untrainedDrafterDraftsWithoutChangingGreedyOutput(@TempDir Path dir) {
        Path out = dir.resolve("exit.gguf");
        EarlyExitReport report = EarlyExit.builder(2).build().make(model, out);
        assertFalse(report.trained());
        assertEquals(model.info().layerCount(), report.modelLayers());
        assertEquals(2, report.layers());
        assertEquals(fileSize(out), report.fileBytes());
        assertTrue(report.fileBytes() < report.modelBytes(), report.toString());
        try (LlamaModel drafter = LlamaModel.load(out);
                Session session = model.newSession(SessionOptions.builder().strictNumerics(true).build())) {
            assertEquals(3, drafter.info().layerCount());
            Speculation fixed = Speculation.draftModel(drafter).withBudget(false);
            for (String prompt : TestModels.storyOpenings(2)) {
                Generation plain = session.generate(prompt, TestModels.greedy(48));
                Generation g = session.generate(prompt, TestModels.greedy(48).toBuilder().speculation(fixed).build());
                assertArrayEquals(plain.tokens(), g.tokens(), "early exit on \"" + prompt + "\"");
                assertTrue(g.stats().draftedTokens() > 0, g.stats().toString());
            }
        }
    }

    @Test
    void trainingRaisesHeldOutAgreementAndReportsProgress(@TempDir Path dir) {
        Path out = dir.resolve("exit.gguf");
        List<MedusaTrainingProgress> seen = new ArrayList<>();
        EarlyExitReport report = small().build().make(model, out, seen::add);
        assertTrue(report.trained());
        assertTrue(report.heldOutPositions() > 0);
        assertEquals(150, report.steps());
        assertTrue(report.loss() < report.firstLoss(), report.toString());
        // the agreement the run measured rises well above the copied block's (0.20 -> 0.45 here)
        assertTrue(report.agreementAfter() > report.agreementBefore() + 0.05, report.toString());
        assertTrue(report.bestStep() > 0, report.toString());
        assertTrue(Files.isRegularFile(out));
        assertTrue(seen.stream().anyMatch(p -> p.phase() == MedusaTrainingProgress.Phase.READING));
        assertTrue(seen.stream().anyMatch(p -> p.phase() == MedusaTrainingProgress.Phase.EVALUATING));
        assertTrue(seen.stream().anyMatch(p -> p.phase() == MedusaTrainingProgress.Phase.TRAINING && p.loss() > 0));
        try (LlamaModel drafter = LlamaModel.load(out)) {
            assertEquals(3, drafter.info().layerCount());
        }
    }

    @Test
    void wholeBlockTrainingAlsoRaisesAgreement(@TempDir Path dir) {
        Path out = dir.resolve("exit-block.gguf");
        EarlyExitReport report = small().attention(true).build().make(model, out);
        assertTrue(report.agreementAfter() > report.agreementBefore() + 0.05, report.toString());
        assertTrue(Files.isRegularFile(out));
    }

    @Test
    void wholeBlockTrainingStartsFromTheModelItself(@TempDir Path dir) {
        // with all but the last block kept, the copied adapter is the model's last block: the training
        // graph (llama.cpp's block rebuilt in ggml) must predict the model's own greedy tokens
        int blocks = model.info().layerCount();
        EarlyExitReport report = EarlyExit.builder(blocks - 1).corpus(corpus()).attention(true).steps(1).maxTokens(4000)
                .threads(1).build().make(model, dir.resolve("exit-full.gguf"));
        assertTrue(report.agreementBefore() >= 0.98, report.toString());
    }

    @Test
    void missingCorpusAndUnwritableOutputAreInvalidArguments(@TempDir Path dir) {
        Path out = dir.resolve("exit.gguf");
        EarlyExit noCorpus = EarlyExit.builder(2).corpus(dir.resolve("none.txt")).build();
        LlamaException e = assertThrows(LlamaException.class, () -> noCorpus.make(model, out));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("none.txt"), e.getMessage());
        assertFalse(Files.exists(out));
        Path nowhere = dir.resolve("no-such-dir").resolve("exit.gguf");
        e = assertThrows(LlamaException.class, () -> EarlyExit.builder(2).build().make(model, nowhere));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("no-such-dir"), e.getMessage());
    }

    @Test
    void listenerExceptionAndInterruptStopTheRunWithNothingWritten(@TempDir Path dir) {
        Path out = dir.resolve("exit.gguf");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> small().build().make(model, out, p -> {
            if (p.phase() == MedusaTrainingProgress.Phase.TRAINING) {
                throw new IllegalStateException("stop here");
            }
        }));
        assertEquals("stop here", e.getMessage());
        assertFalse(Files.exists(out));
        Thread.currentThread().interrupt();
        try {
            assertThrows(CancellationException.class, () -> small().build().make(model, out));
            assertTrue(Thread.currentThread().isInterrupted());
        } finally {
            Thread.interrupted();
        }
        assertFalse(Files.exists(out));
        assertTrue(listFiles(dir).isEmpty(), "left behind: " + listFiles(dir));
    }

    @Test
    void closedModelIsRefused(@TempDir Path dir) {
        LlamaModel closed = LlamaModel.load(TestModels.model());
        closed.close();
        assertThrows(IllegalStateException.class, () -> EarlyExit.builder(2).build().make(closed, dir.resolve("e.gguf")));
        assertThrows(NullPointerException.class, () -> EarlyExit.builder(2).build().make(null, dir.resolve("e.gguf")));
        assertThrows(NullPointerException.class, () -> EarlyExit.builder(2).build().make(model, null));
    }

    private static long fileSize(Path p) {
        try {
            return Files.size(p);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static List<Path> listFiles(Path dir) {
        try (var s = Files.list(dir)) {
            return s.toList();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
