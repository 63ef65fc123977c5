package dev.llamaspec;

import java.util.ArrayList;
import java.util.List;

/**
 * What a {@link MedusaTrainer} run did, as an immutable snapshot. Accuracies are measured on held-out
 * documents of the corpus: {@code top1().get(k)} is how often head k's best candidate was the model's
 * own greedy token k + 2 positions ahead, {@code top5()} how often it was among the five best; the
 * {@code *Before} lists are the untrained heads' (identity blocks, the model's output projection).
 *
 * @param steps            optimizer steps done
 * @param examples         examples seen in training (steps x batch size)
 * @param trainingExamples positions available for training
 * @param heldOutExamples  held-out positions evaluated
 * @param tokensRead       positions the model read (corpus and generated text)
 * @param firstLoss        training loss of the first step (cross-entropy summed over heads)
 * @param loss             mean training loss of the last 5% of the steps
 * @param seconds          the whole run
 * @param readingSeconds   reading the corpus (and generating)
 * @param trainingSeconds  the optimizer steps
 * @param timeLimited      whether the time budget shortened the run
 */
public record MedusaTrainingReport(int steps, long examples, long trainingExamples, long heldOutExamples,
        long tokensRead, double firstLoss, double loss, double seconds, double readingSeconds,
        double trainingSeconds, boolean timeLimited, List<Double> top1Before, List<Double> top5Before,
        List<Double> top1, List<Double> top5) {

    public MedusaTrainingReport {
        top1Before = List.copyOf(top1Before);
        top5Before = List.copyOf(top5Before);
        top1 = List.copyOf(top1);
        top5 = List.copyOf(top5);
    }

    /** Number of heads trained. */
    public int heads() {
        return top1.size();
    }

    /** Built from the native values (see nTrain in native/medusa_trainer_jni.cpp for the order). */
    static MedusaTrainingReport fromNative(double[] v) {
        int heads = (int) v[11];
        List<Double> top1Before = new ArrayList<>();
        List<Double> top5Before = new ArrayList<>();
        List<Double> top1 = new ArrayList<>();
        List<Double> top5 = new ArrayList<>();
        for (int k = 0; k < heads; k++) {
            int i = 12 + 4 * k;
            top1Before.add(v[i]);
            top5Before.add(v[i + 1]);
            top1.add(v[i + 2]);
            top5.add(v[i + 3]);
        }
        return new MedusaTrainingReport((int) v[0], (long) v[1], (long) v[2], (long) v[3], (long) v[4], v[5], v[6],
                v[7], v[8], v[9], v[10] != 0, top1Before, top5Before, top1, top5);
    }
}
