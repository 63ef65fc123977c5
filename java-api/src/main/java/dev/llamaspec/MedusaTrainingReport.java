package dev.llamaspec;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

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

    /**
     * Built from the engine's report by name ({@code sd_train_report_values}: "steps", "loss", ...;
     * {@code sd_train_report_lists}: "top1", "top5_before", ...); called from JNI. Names the record does
     * not use are ignored.
     *
     * @throws IllegalStateException when a value or list the record needs is missing
     */
    static MedusaTrainingReport fromNative(String[] names, double[] values, String[] listNames, float[][] lists) {
        Map<String, Double> v = new HashMap<>();
        for (int i = 0; i < names.length; i++) {
            v.put(names[i], values[i]);
        }
        Map<String, float[]> l = new HashMap<>();
        for (int i = 0; i < listNames.length; i++) {
            l.put(listNames[i], lists[i]);
        }
        return new MedusaTrainingReport((int) value(v, "steps"), (long) value(v, "examples"),
                (long) value(v, "n_train"), (long) value(v, "n_eval"), (long) value(v, "n_tokens"),
                value(v, "loss_first"), value(v, "loss"), value(v, "seconds"), value(v, "seconds_data"),
                value(v, "seconds_train"), value(v, "time_limited") != 0, list(l, "top1_before"),
                list(l, "top5_before"), list(l, "top1"), list(l, "top5"));
    }

    private static double value(Map<String, Double> values, String name) {
        Double v = values.get(name);
        if (v == null) {
            throw new IllegalStateException("the engine's training report has no '" + name + "' (it reported "
                    + values.keySet() + ")");
        }
        return v;
    }

    private static List<Double> list(Map<String, float[]> lists, String name) {
        float[] v = lists.get(name);
        if (v == null) {
            throw new IllegalStateException("the engine's training report has no list '" + name + "' (it reported "
                    + lists.keySet() + ")");
        }
        List<Double> out = new ArrayList<>(v.length);
        for (float f : v) {
            out.add((double) f);
        }
        return out;
    }
}
