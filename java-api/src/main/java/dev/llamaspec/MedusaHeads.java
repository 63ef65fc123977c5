package dev.llamaspec;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Objects;

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
    /** Ranks recorded per head in the file's accuracy table (the engine's {@code SD_HEADS_RANKS}). */
    public static final int RANKS = 10;

    /**
     * What a heads file holds ({@code sd_heads_info}), as it crosses JNI.
     *
     * @param heads         K: head k predicts the token k + 2 positions ahead
     * @param layers        residual blocks per head
     * @param hiddenSize    the base model's hidden size
     * @param vocabSize     the base model's vocabulary size
     * @param sharedOutput  whether the heads use the base model's output projection
     * @param regressive    whether head k also reads the tokens before the one it predicts (Clover-style)
     * @param feature       whether the file is a feature drafter (EAGLE-style): one network applied at every depth
     * @param attentionWindow a feature drafter's attention window (positions), 0 = none
     * @param fingerprint   the base model's fingerprint
     * @param baseModelName the base model's name when the heads were made
     * @param accuracy      [heads * RANKS] or empty: how often head k's rank-r candidate was right
     */
    record Info(int heads, int layers, int hiddenSize, int vocabSize, boolean sharedOutput, boolean regressive,
            boolean feature, int attentionWindow, String fingerprint,
            String baseModelName, float[] accuracy) {}

    private final LlamaModel model;
    private final Path path;
    private final Info info;
    private final NativeHandle handle;

    private MedusaHeads(LlamaModel model, Path path, long handle, Info info) {
        this.model = model;
        this.path = path;
        this.info = info;
        this.handle = new NativeHandle(handle, false, "Medusa heads are closed: " + path, MedusaHeads::nFree);
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
        return model.nativeHandle().call(m -> NativeHandle.adopt(nLoad(m, utf8),
                handle -> new MedusaHeads(model, absolute, handle, nInfo(handle)), MedusaHeads::nFree));
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
        return info.heads();
    }

    /** Residual blocks per head. */
    public int layers() {
        return info.layers();
    }

    public int hiddenSize() {
        return info.hiddenSize();
    }

    public int vocabSize() {
        return info.vocabSize();
    }

    /** Whether the heads use the model's own output projection instead of one each. */
    public boolean sharedOutput() {
        return info.sharedOutput();
    }

    /**
     * Whether the heads are regressive (Clover-style): head k also reads the tokens before the one it
     * predicts (the current token and the previous heads' proposals), so a draft is a chain of the
     * heads' best tokens with their runners-up beside it. See {@link MedusaTrainer.Builder#regressive}.
     */
    public boolean regressive() {
        return info.regressive();
    }

    /**
     * Whether the file is a feature drafter (EAGLE-style): one network that predicts the model's next
     * hidden state from its own previous prediction and the token after it, applied once per draft
     * depth ({@link #heads()} depths), its logits through the output projection. It is also
     * {@link #regressive()}. See {@link MedusaTrainer.Builder#feature}.
     */
    public boolean feature() {
        return info.feature();
    }

    /**
     * A feature drafter's attention window: how many of the text's last positions each depth attends
     * to (the model's own hidden states there); 0 when it has no attention. See
     * {@link MedusaTrainer.Builder#attention}.
     */
    public int attentionWindow() {
        return info.attentionWindow();
    }

    /** The fingerprint of the model the heads were made for (equal to this model's). */
    public String fingerprint() {
        return info.fingerprint();
    }

    /** The name of the model the heads were made for, as recorded in the file (may be empty). */
    public String baseModelName() {
        return info.baseModelName();
    }

    /** Whether the file records the heads' accuracy on held-out text. */
    public boolean hasAccuracy() {
        return info.accuracy().length > 0;
    }

    /**
     * How often head {@code head}'s candidate of rank {@code rank} (0 = its top token) was the right
     * token on the held-out text the heads were measured on.
     *
     * @throws IllegalStateException when the file records no accuracy
     */
    public double accuracy(int head, int rank) {
        Checks.range("head", head, 0, info.heads() - 1);
        Checks.range("rank", rank, 0, RANKS - 1);
        if (!hasAccuracy()) {
            throw new IllegalStateException("the heads file records no accuracy: " + path);
        }
        return info.accuracy()[head * RANKS + rank];
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
        return handle.isFreed();
    }

    /** Frees the heads. Idempotent; sessions already generating with them are not affected. */
    @Override
    public void close() {
        handle.free(null);
    }

    /** The native handle: its calls hold the heads open (a generation that begins with them). */
    NativeHandle nativeHandle() {
        return handle;
    }

    /**
     * Logits of every head for {@code n} hidden states ({@code n * hiddenSize()} floats), computed the
     * way generation computes them: {@code [n][heads][vocabSize]}, flattened. Regressive heads also
     * need {@code roots}, the token after each hidden state (ignored, may be null, for the others);
     * their heads after the first read the previous heads' best tokens. For tests.
     */
    float[] logits(float[] hidden, int[] roots, int n) {
        return handle.call(h -> nLogits(h, hidden, roots, n));
    }

    @Override
    public String toString() {
        return "MedusaHeads{" + path + ", heads=" + info.heads() + ", layers=" + info.layers()
                + (isClosed() ? ", closed" : "") + "}";
    }

    static native long nLoad(long model, byte[] path);

    static native void nFree(long handle);

    /** What the file holds, as an {@link Info}. */
    static native Info nInfo(long handle);

    static native float[] nLogits(long handle, float[] hidden, int[] roots, int n);
}
