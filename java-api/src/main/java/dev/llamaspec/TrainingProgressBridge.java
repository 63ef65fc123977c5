package dev.llamaspec;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.CancellationException;

/**
 * Passes the progress of a native training run ({@link MedusaTrainer}, {@link EarlyExit}) to a
 * listener; its answer, false, stops the run: when the listener's thread is interrupted.
 */
final class TrainingProgressBridge {
    private final MedusaTrainingListener listener;

    TrainingProgressBridge(MedusaTrainingListener listener) {
        this.listener = listener;
    }

    /** A native run on a model's handle, writing to a path, reporting to a bridge; null when cancelled. */
    @FunctionalInterface
    interface Run<T> {
        T run(long model, byte[] output, TrainingProgressBridge bridge);
    }

    /**
     * Runs {@code run} on the model (holding its read lock) with a bridge to {@code listener}.
     *
     * @throws CancellationException naming {@code what} when the run was cancelled; nothing was written
     * @throws IllegalStateException when the model is closed
     */
    static <T> T run(LlamaModel model, Path output, MedusaTrainingListener listener, String what, Run<T> run) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(output, "output");
        Objects.requireNonNull(listener, "listener");
        byte[] outputPath = pathBytes(output);
        TrainingProgressBridge bridge = new TrainingProgressBridge(listener);
        T result = model.nativeHandle().call(m -> run.run(m, outputPath, bridge));
        if (result == null) {
            throw new CancellationException(what + " was cancelled; nothing was written to " + output);
        }
        return result;
    }

    /** A path as the engine takes it: absolute, UTF-8. */
    static byte[] pathBytes(Path path) {
        return path.toAbsolutePath().toString().getBytes(StandardCharsets.UTF_8);
    }

    @SuppressWarnings("unused") // called from JNI
    boolean onNativeProgress(int phase, long done, long total, float loss, double seconds) {
        if (Thread.currentThread().isInterrupted()) {
            return false;
        }
        listener.onProgress(new MedusaTrainingProgress(MedusaTrainingProgress.Phase.fromNative(phase), done, total,
                loss, seconds));
        return !Thread.currentThread().isInterrupted();
    }
}
