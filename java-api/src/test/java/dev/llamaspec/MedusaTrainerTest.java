package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

class MedusaTrainerTest extends WithTestModel {
    private static Path corpus() {
        return TestModels.root().resolve("../shared/corpus/tinystories_train_sample.txt").normalize();
    }

    /** A short run: a slice of the corpus, few steps, one thread. */
    private static MedusaTrainer.Builder small() {
        return MedusaTrainer.builder(corpus()).heads(2).steps(60).batchSize(64).maxTokens(8000).maxEvalExamples(1000)
                .threads(1);
    }

    @Test
    void builderValidatesEveryOption() {
        assertThrows(NullPointerException.class, () -> MedusaTrainer.builder(null));
        String message = assertThrows(IllegalArgumentException.class, () -> small().heads(0).build()).getMessage();
        assertEquals("heads must be in [1, 16], got 0", message);
        assertThrows(IllegalArgumentException.class, () -> small().layers(9).build());
        assertThrows(IllegalArgumentException.class, () -> small().steps(0).build());
        assertThrows(IllegalArgumentException.class, () -> small().batchSize(0).build());
        assertThrows(IllegalArgumentException.class, () -> small().learningRate(0).build());
        assertThrows(IllegalArgumentException.class, () -> small().learningRate(Float.NaN).build());
        assertThrows(IllegalArgumentException.class, () -> small().warmup(0.6f).build());
        assertThrows(IllegalArgumentException.class, () -> small().weightDecay(1).build());
        assertThrows(IllegalArgumentException.class, () -> small().contextSize(16).build());
        assertThrows(IllegalArgumentException.class, () -> small().maxTokens(10).build());
        assertThrows(IllegalArgumentException.class, () -> small().holdout(0.9f).build());
        assertThrows(IllegalArgumentException.class, () -> small().maxEvalExamples(1).build());
        assertThrows(IllegalArgumentException.class, () -> small().threads(-1).build());
        assertThrows(IllegalArgumentException.class, () -> small().seed(-1).build());
        assertThrows(IllegalArgumentException.class, () -> small().maxDuration(Duration.ofSeconds(-1)).build());
        assertThrows(IllegalArgumentException.class, () -> small().feature(true).attention(65).build());
        assertThrows(IllegalArgumentException.class, () -> small().feature(true).attention(-1).build());
        assertEquals("attention (4) is for a feature drafter: set feature(true) too",
                assertThrows(IllegalArgumentException.class, () -> small().attention(4).build()).getMessage());
        MedusaTrainer t = small().layers(0).maxDuration(Duration.ofMinutes(2)).build();
        assertEquals(0, t.layers());
        assertEquals(Duration.ofMinutes(2), t.maxDuration());
    }

    @Test
    void shortRunWritesHeadsAndReportsAccuracies(@TempDir Path dir) {
        Path out = dir.resolve("heads.gguf");
        List<MedusaTrainingProgress> seen = new ArrayList<>();
        MedusaTrainingReport report = small().build().train(model, out, seen::add);
        assertTrue(Files.isRegularFile(out));
        assertEquals(60, report.steps());
        assertEquals(60 * 64, report.examples());
        assertEquals(2, report.heads());
        assertTrue(report.heldOutExamples() > 0);
        assertTrue(report.loss() < report.firstLoss(), report.toString());
        for (List<Double> values : List.of(report.top1Before(), report.top5Before(), report.top1(), report.top5())) {
            assertEquals(2, values.size());
            for (double v : values) {
                assertTrue(v >= 0 && v <= 1, report.toString());
            }
        }
        assertTrue(report.top1().get(0) <= report.top5().get(0));
        assertThrows(UnsupportedOperationException.class, () -> report.top1().set(0, 1.0));
        assertTrue(seen.stream().anyMatch(p -> p.phase() == MedusaTrainingProgress.Phase.READING));
        assertTrue(seen.stream().anyMatch(p -> p.phase() == MedusaTrainingProgress.Phase.TRAINING && p.loss() > 0));
    }

    /**
     * Regressive heads and feature drafters, without and with attention: trained, loaded, drafting
     * without changing greedy output.
     */
    @ParameterizedTest
    @ValueSource(strings = {"regressive", "feature", "attention"})
    void regressiveHeadsAndFeatureDraftersTrainLoadAndGivePlainGreedyOutput(String kind, @TempDir Path dir) {
        boolean feature = !kind.equals("regressive");
        int window = kind.equals("attention") ? 8 : 0;
        Path out = dir.resolve(kind + ".gguf");
        MedusaTrainer trainer = (feature ? small().feature(true).attention(window) : small().regressive(true)).build();
        assertEquals(!feature, trainer.regressive());
        assertEquals(feature, trainer.feature());
        assertEquals(window, trainer.attention());
        MedusaTrainingReport report = trainer.train(model, out);
        assertTrue(report.loss() < report.firstLoss(), report.toString());
        try (MedusaHeads heads = MedusaHeads.load(model, out);
                Session session = model.newSession(SessionOptions.builder().strictNumerics(true).build())) {
            assertTrue(heads.regressive());
            assertEquals(feature, heads.feature());
            assertEquals(window, heads.attentionWindow());
            assertEquals(2, heads.heads());
            // the heads read the token after the hidden state: without it their logits cannot be computed
            float[] hidden = new float[heads.hiddenSize()];
            LlamaException e = assertThrows(LlamaException.class, () -> heads.logits(hidden, null, 1));
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertEquals(2 * heads.vocabSize(), heads.logits(hidden, new int[] {1}, 1).length);
            Speculation fixed = Speculation.medusa(heads).withBudget(false);
            for (String prompt : TestModels.storyOpenings(2)) {
                Generation plain = session.generate(prompt, TestModels.greedy(48));
                Generation g = session.generate(prompt, TestModels.greedy(48).toBuilder().speculation(fixed).build());
                assertArrayEquals(plain.tokens(), g.tokens(), kind + " on \"" + prompt + "\"");
                assertTrue(g.stats().draftedTokens() > 0, g.stats().toString());
            }
        }
    }

    @Test
    void missingCorpusIsAnInvalidArgument(@TempDir Path dir) {
        MedusaTrainer t = MedusaTrainer.builder(dir.resolve("none.txt")).build();
        LlamaException e = assertThrows(LlamaException.class, () -> t.train(model, dir.resolve("h.gguf")));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("cannot read the corpus"), e.getMessage());
    }

    @Test
    void listenerExceptionStopsTheRun(@TempDir Path dir) {
        Path out = dir.resolve("heads.gguf");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> small().build().train(model, out, p -> {
            if (p.phase() == MedusaTrainingProgress.Phase.TRAINING) {
                throw new IllegalStateException("stop here");
            }
        }));
        assertEquals("stop here", e.getMessage());
        assertFalse(Files.exists(out));
    }

    @Test
    void interruptingTheThreadCancelsFromAnotherThread(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("heads.gguf");
        MedusaTrainer trainer = small().steps(1_000_000).build();
        ExecutorService executor = Executors.newSingleThreadExecutor();
        try {
            CountDownLatch training = new CountDownLatch(1);
            Future<MedusaTrainingReport> run = executor.submit(() -> trainer.train(model, out, p -> {
                if (p.phase() == MedusaTrainingProgress.Phase.TRAINING) {
                    training.countDown();
                }
            }));
            assertTrue(training.await(120, TimeUnit.SECONDS), "training did not start");
            run.cancel(true);
            assertThrows(CancellationException.class, run::get);
            // the task itself ended with a CancellationException too, and wrote nothing
            executor.shutdown();
            assertTrue(executor.awaitTermination(30, TimeUnit.SECONDS));
            assertFalse(Files.exists(out));
        } finally {
            executor.shutdownNow();
        }
    }

    @Test
    void cancelledRunThrowsCancellation(@TempDir Path dir) {
        Path out = dir.resolve("heads.gguf");
        MedusaTrainer trainer = small().build();
        Thread.currentThread().interrupt();
        try {
            assertThrows(CancellationException.class, () -> trainer.train(model, out));
            assertTrue(Thread.currentThread().isInterrupted());
        } finally {
            Thread.interrupted();
        }
        assertFalse(Files.exists(out));
    }
}
