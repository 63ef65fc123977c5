package dev.llamaspec;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * Writes safetensors files and Medusa heads directories for tests, with a writer of its own that
 * follows the published format (8-byte little-endian header length, JSON header padded with spaces to
 * a multiple of 8, data).
 */
final class TestSafeTensors {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TestSafeTensors() {}

    /** A tensor to write: its values are stored in {@code dtype} (F32, F16, BF16 or anything, raw). */
    static final class Tensor {
        final String dtype;
        final long[] shape;
        final byte[] data;

        Tensor(String dtype, long[] shape, byte[] data) {
            this.dtype = dtype;
            this.shape = shape;
            this.data = data;
        }

        /** Values stored as dtype; {@link #decode} gives what the file then holds. */
        static Tensor of(String dtype, long[] shape, float[] values) {
            return new Tensor(dtype, shape, encode(dtype, values));
        }
    }

    static byte[] file(Map<String, Tensor> tensors) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", e.getValue().dtype);
            var shape = t.putArray("shape");
            for (long d : e.getValue().shape) {
                shape.add(d);
            }
            t.putArray("data_offsets").add(offset).add(offset + e.getValue().data.length);
            offset += e.getValue().data.length;
        }
        StringBuilder json = new StringBuilder(JSON.writeValueAsString(header));
        while (json.length() % 8 != 0) {
            json.append(' ');
        }
        byte[] h = json.toString().getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
        out.write(h);
        for (Tensor t : tensors.values()) {
            out.write(t.data);
        }
        return out.toByteArray();
    }

    static Path write(Path file, Map<String, Tensor> tensors) throws IOException {
        Files.write(file, file(tensors));
        return file;
    }

    /** Random Medusa heads as stored: per head k, block l: W, b; then the output projection. */
    static final class Heads {
        final int heads;
        final int layers;
        final int hidden;
        final int vocab;
        final float[][] w; // [k * layers + l], row-major [out][in], as the file holds them
        final float[][] b;
        final float[][] out; // [k], row-major [vocab][hidden]
        final Map<String, Tensor> tensors = new LinkedHashMap<>();

        /** dtypes[i % dtypes.length] is the dtype of the i-th tensor written. */
        Heads(int heads, int layers, int hidden, int vocab, long seed, String... dtypes) {
            this.heads = heads;
            this.layers = layers;
            this.hidden = hidden;
            this.vocab = vocab;
            Random random = new Random(seed);
            w = new float[heads * layers][];
            b = new float[heads * layers][];
            out = new float[heads][];
            int i = 0;
            for (int k = 0; k < heads; k++) {
                for (int l = 0; l < layers; l++) {
                    String dw = dtypes[i++ % dtypes.length];
                    w[k * layers + l] = decode(dw, encode(dw, uniform(random, hidden * hidden, 0.15f)));
                    tensors.put(k + "." + l + ".linear.weight",
                            Tensor.of(dw, new long[] {hidden, hidden}, w[k * layers + l]));
                    String db = dtypes[i++ % dtypes.length];
                    b[k * layers + l] = decode(db, encode(db, uniform(random, hidden, 0.1f)));
                    tensors.put(k + "." + l + ".linear.bias", Tensor.of(db, new long[] {hidden}, b[k * layers + l]));
                }
                String d = dtypes[i++ % dtypes.length];
                out[k] = decode(d, encode(d, uniform(random, vocab * hidden, 0.5f)));
                tensors.put(k + "." + layers + ".weight", Tensor.of(d, new long[] {vocab, hidden}, out[k]));
            }
        }

        /** Medusa's math in Java: logits[k][v] for one hidden state. */
        float[][] logits(float[] h) {
            float[][] logits = new float[heads][vocab];
            for (int k = 0; k < heads; k++) {
                float[] x = h.clone();
                for (int l = 0; l < layers; l++) {
                    float[] wl = w[k * layers + l];
                    float[] y = new float[hidden];
                    for (int o = 0; o < hidden; o++) {
                        double s = b[k * layers + l][o];
                        for (int j = 0; j < hidden; j++) {
                            s += (double) wl[o * hidden + j] * x[j];
                        }
                        y[o] = (float) (s / (1 + Math.exp(-s)));
                    }
                    for (int o = 0; o < hidden; o++) {
                        x[o] += y[o];
                    }
                }
                for (int v = 0; v < vocab; v++) {
                    double s = 0;
                    for (int j = 0; j < hidden; j++) {
                        s += (double) out[k][v * hidden + j] * x[j];
                    }
                    logits[k][v] = (float) s;
                }
            }
            return logits;
        }

        /** Writes config.json (with the sizes when asked) and medusa_lm_head.safetensors into dir. */
        Path writeDir(Path dir, boolean withSizes) throws IOException {
            Files.createDirectories(dir);
            ObjectNode config = JSON.createObjectNode();
            config.put("base_model_name_or_path", "stories260K");
            config.put("medusa_num_heads", heads);
            config.put("medusa_num_layers", layers);
            if (withSizes) {
                config.put("hidden_size", hidden);
                config.put("vocab_size", vocab);
            }
            Files.writeString(dir.resolve(MedusaImporter.CONFIG), JSON.writeValueAsString(config));
            write(dir.resolve(MedusaImporter.WEIGHTS), tensors);
            return dir;
        }
    }

    static float[] uniform(Random random, int n, float range) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (random.nextFloat() * 2 - 1) * range;
        }
        return v;
    }

    static byte[] encode(String dtype, float[] values) {
        int size = dtype.equals("F32") ? 4 : 2;
        ByteBuffer buf = ByteBuffer.allocate(values.length * size).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            switch (dtype) {
                case "F32": buf.putFloat(v); break;
                case "BF16": buf.putShort((short) (Float.floatToIntBits(v) >>> 16)); break;
                default: buf.putShort(halfBits(v)); break; // F16, or raw 2-byte values of another dtype
            }
        }
        return buf.array();
    }

    static float[] decode(String dtype, byte[] bytes) {
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        float[] v = new float[bytes.length / (dtype.equals("F32") ? 4 : 2)];
        for (int i = 0; i < v.length; i++) {
            switch (dtype) {
                case "F32": v[i] = buf.getFloat(); break;
                case "BF16": v[i] = Float.intBitsToFloat((buf.getShort() & 0xffff) << 16); break;
                default: v[i] = halfValue(buf.getShort()); break;
            }
        }
        return v;
    }

    /** IEEE half of a float in the normal range of halves, truncated; smaller values become zero. */
    private static short halfBits(float f) {
        int bits = Float.floatToIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exponent = ((bits >>> 23) & 0xff) - 127 + 15;
        if (exponent <= 0) {
            return (short) sign;
        }
        if (exponent >= 31) {
            throw new IllegalArgumentException("too large for a half: " + f);
        }
        return (short) (sign | exponent << 10 | (bits >>> 13) & 0x3ff);
    }

    private static float halfValue(short h) {
        int exponent = (h >>> 10) & 0x1f;
        int sign = (h & 0x8000) << 16;
        if (exponent == 0) {
            return Float.intBitsToFloat(sign); // the writer makes no subnormals
        }
        return Float.intBitsToFloat(sign | (exponent - 15 + 127) << 23 | (h & 0x3ff) << 13);
    }
}
