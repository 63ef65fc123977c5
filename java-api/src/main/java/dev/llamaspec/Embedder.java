package dev.llamaspec;

import java.util.ArrayList;
import java.util.List;

/** An embedding context of a model for one set of options; its calls run one at a time. */
final class Embedder {
    private final NativeHandle handle;
    private final int dimension;
    private final EmbeddingOptions.Pooling pooling;

    Embedder(long modelHandle, EmbeddingOptions options) {
        long h = nInit(modelHandle, options.pooling().code, options.contextSize());
        this.handle = new NativeHandle(h, true, "the embedder is closed", Embedder::nFree);
        int[] info = handle.call(Embedder::nInfo);
        this.dimension = info[0];
        this.pooling = EmbeddingOptions.Pooling.fromNative(info[1]);
    }

    int dimension() {
        return dimension;
    }

    /** The pooling in effect (the model's own resolved). */
    EmbeddingOptions.Pooling pooling() {
        return pooling;
    }

    List<float[]> embed(int[][] texts, boolean normalize) {
        float[] flat = handle.call(h -> nEmbed(h, texts, normalize));
        List<float[]> out = new ArrayList<>(texts.length);
        for (int i = 0; i < texts.length; i++) {
            float[] v = new float[dimension];
            System.arraycopy(flat, i * dimension, v, 0, dimension);
            out.add(v);
        }
        return out;
    }

    void close() {
        handle.free(h -> { });
    }

    static native long nInit(long model, int pooling, int contextSize);

    static native void nFree(long handle);

    static native int[] nInfo(long handle);

    static native float[] nEmbed(long handle, int[][] texts, boolean normalize);
}
