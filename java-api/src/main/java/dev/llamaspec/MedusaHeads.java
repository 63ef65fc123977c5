package dev.llamaspec;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.LongFunction;

/**
 * Medusa heads for one model, loaded from a heads file (GGUF, architecture {@code medusa}; see
 * {@code docs/medusa-heads.md}): small networks that read the model's last hidden state and predict
 * the tokens after the next one, used by {@link Speculation#medusa(MedusaHeads)}.
 *
 * <p>Loading checks that the heads were made for this model (hidden size, vocabulary and the model's
 * fingerprint) and fails with a {@link LlamaException} naming the mismatch otherwise. The heads run
 * with ggml on the model's device. A session that began a generation with the heads keeps what it
 * needs, so closing the heads never disturbs a running generation. Thread-safe.
 */
public final class MedusaHeads implements AutoCloseable {
    /** Ranks recorded per head in the file's accuracy table. */
    public static final int RANKS = 10;
    /** Most heads in a heads file. */
    static final int MAX_HEADS = 16;
    /** Most residual blocks per head. */
    static final int MAX_LAYERS = 8;

    private final LlamaModel model;
    private final Path path;
    private final int heads;
    private final int layers;
    private final int hiddenSize;
    private final int vocabSize;
    private final boolean sharedOutput;
    private final String fingerprint;
    private final String baseModelName;
    private final float[] accuracy;
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private long handle;

    private MedusaHeads(LlamaModel model, Path path, long handle, int[] sizes, String fingerprint, String baseModelName,
            float[] accuracy) {
        this.model = model;
        this.path = path;
        this.handle = handle;
        this.heads = sizes[0];
        this.layers = sizes[1];
        this.hiddenSize = sizes[2];
        this.vocabSize = sizes[3];
        this.sharedOutput = sizes[4] != 0;
        this.fingerprint = fingerprint;
        this.baseModelName = baseModelName;
        this.accuracy = accuracy;
    }

    /**
     * Loads heads for {@code model}.
     *
     * @throws LlamaException when the file is missing, not a heads file, or made for another model
     * @throws IllegalStateException when the model is closed
     */
    public static MedusaHeads load(LlamaModel model, Path path) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(path, "path");
        Path absolute = path.toAbsolutePath();
        byte[] utf8 = absolute.toString().getBytes(StandardCharsets.UTF_8);
        model.readLock().lock();
        try {
            if (model.handle() == 0) {
                throw new IllegalStateException("model is closed: " + model.path());
            }
            long handle = nLoad(model.handle(), utf8);
            try {
                int[] sizes = nSizes(handle);
                String[] names = nNames(handle);
                float[] accuracy = nAccuracy(handle);
                return new MedusaHeads(model, absolute, handle, sizes, names[0], names[1], accuracy);
            } catch (RuntimeException | Error e) {
                nFree(handle);
                throw e;
            }
        } finally {
            model.readLock().unlock();
        }
    }

    /** The model the heads were loaded for. */
    public LlamaModel model() {
        return model;
    }

    public Path path() {
        return path;
    }

    /** Number of heads K: head k (0-based) predicts the token k + 2 positions ahead. */
    public int heads() {
        return heads;
    }

    /** Residual blocks per head. */
    public int layers() {
        return layers;
    }

    public int hiddenSize() {
        return hiddenSize;
    }

    public int vocabSize() {
        return vocabSize;
    }

    /** Whether the heads use the model's own output projection instead of one each. */
    public boolean sharedOutput() {
        return sharedOutput;
    }

    /** The fingerprint of the model the heads were made for (equal to this model's). */
    public String fingerprint() {
        return fingerprint;
    }

    /** The name of the model the heads were made for, as recorded in the file (may be empty). */
    public String baseModelName() {
        return baseModelName;
    }

    /** Whether the file records the heads' accuracy on held-out text. */
    public boolean hasAccuracy() {
        return accuracy.length > 0;
    }

    /**
     * How often head {@code head}'s candidate of rank {@code rank} (0 = its top token) was the right
     * token on the held-out text the heads were measured on.
     *
     * @throws IllegalStateException when the file records no accuracy
     */
    public double accuracy(int head, int rank) {
        Checks.range("head", head, 0, heads - 1);
        Checks.range("rank", rank, 0, RANKS - 1);
        if (!hasAccuracy()) {
            throw new IllegalStateException("the heads file records no accuracy: " + path);
        }
        return accuracy[head * RANKS + rank];
    }

    /** Top-n accuracy of a head: how often the right token was among its n best candidates. */
    public double topAccuracy(int head, int n) {
        Checks.range("n", n, 1, RANKS);
        double sum = 0;
        for (int r = 0; r < n; r++) {
            sum += accuracy(head, r);
        }
        return sum;
    }

    public boolean isClosed() {
        lifecycle.readLock().lock();
        try {
            return handle == 0;
        } finally {
            lifecycle.readLock().unlock();
        }
    }

    /** Frees the heads. Idempotent; sessions already generating with them are not affected. */
    @Override
    public void close() {
        lifecycle.writeLock().lock();
        try {
            if (handle != 0) {
                nFree(handle);
                handle = 0;
            }
        } finally {
            lifecycle.writeLock().unlock();
        }
    }

    /** Runs {@code call} with the native handle while the heads cannot be closed. */
    <T> T withHandle(LongFunction<T> call) {
        lifecycle.readLock().lock();
        try {
            if (handle == 0) {
                throw new IllegalStateException("Medusa heads are closed: " + path);
            }
            return call.apply(handle);
        } finally {
            lifecycle.readLock().unlock();
        }
    }

    /**
     * Logits of every head for {@code n} hidden states ({@code n * hiddenSize()} floats), computed the
     * way generation computes them: {@code [n][heads][vocabSize]}, flattened. For tests.
     */
    float[] logits(float[] hidden, int n) {
        return withHandle(h -> nLogits(h, hidden, n));
    }

    @Override
    public String toString() {
        return "MedusaHeads{" + path + ", heads=" + heads + ", layers=" + layers + (isClosed() ? ", closed" : "") + "}";
    }

    private static native long nLoad(long model, byte[] path);

    private static native void nFree(long handle);

    /** {heads, layers, hidden size, vocabulary size, shared output (0/1)}. */
    private static native int[] nSizes(long handle);

    /** {fingerprint, base model name}. */
    private static native String[] nNames(long handle);

    private static native float[] nAccuracy(long handle);

    private static native float[] nLogits(long handle, float[] hidden, int n);

    /**
     * Writes a heads file for {@code model} from weights in another file (MedusaImporter): sizes are
     * {heads, layers, hidden size, vocabulary}; offsets and types (0 F32, 1 F16, 2 BF16) say where each
     * tensor lies, in the heads file's order (per head: weight and bias of each block, then the output).
     */
    static native void nImport(long model, byte[] source, byte[] output, int[] sizes, long[] offsets, int[] types);
}
