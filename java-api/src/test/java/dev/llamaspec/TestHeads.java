package dev.llamaspec;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes Medusa heads files for tests with a GGUF writer of its own (independent of the engine's), so
 * the loader is tested against the documented format.
 */
final class TestHeads {
    private TestHeads() {}

    /**
     * Heads whose residual blocks are the identity (W = 0, b = 0) and that share the model's output
     * projection: each head proposes the model's own next-token guess for the position it reads.
     */
    static Path identity(LlamaModel model, Path dir, int heads, String fingerprint) throws IOException {
        ModelInfo info = model.info();
        return write(dir.resolve("identity-" + heads + ".gguf"), "medusa", heads, 1, info.embeddingSize(),
                info.vocabularySize(), fingerprint);
    }

    static Path write(Path file, String architecture, int heads, int layers, int embd, int vocab, String fingerprint)
            throws IOException {
        List<byte[]> kvs = new ArrayList<>();
        kvs.add(kvString("general.architecture", architecture));
        kvs.add(kvU32("medusa.head_count", heads));
        kvs.add(kvU32("medusa.block_count", layers));
        kvs.add(kvU32("medusa.embedding_length", embd));
        kvs.add(kvU32("medusa.vocab_size", vocab));
        kvs.add(kvBool("medusa.shared_output", true));
        kvs.add(kvString("medusa.base_fingerprint", fingerprint));
        List<String> names = new ArrayList<>();
        List<long[]> shapes = new ArrayList<>();
        for (int k = 0; k < heads; k++) {
            for (int l = 0; l < layers; l++) {
                names.add("medusa." + k + "." + l + ".weight");
                shapes.add(new long[] {embd, embd});
                names.add("medusa." + k + "." + l + ".bias");
                shapes.add(new long[] {embd});
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write("GGUF".getBytes(StandardCharsets.US_ASCII));
        out.write(le(4).putInt(3).array());
        out.write(le(8).putLong(names.size()).array());
        out.write(le(8).putLong(kvs.size()).array());
        for (byte[] kv : kvs) {
            out.write(kv);
        }
        long offset = 0;
        for (int i = 0; i < names.size(); i++) {
            out.write(string(names.get(i)));
            long[] ne = shapes.get(i);
            out.write(le(4).putInt(ne.length).array());
            long n = 1;
            for (long d : ne) {
                out.write(le(8).putLong(d).array());
                n *= d;
            }
            out.write(le(4).putInt(0).array()); // F32
            out.write(le(8).putLong(offset).array());
            offset += align(n * 4);
        }
        pad(out);
        for (long[] ne : shapes) {
            long n = 1;
            for (long d : ne) {
                n *= d;
            }
            out.write(new byte[(int) align(n * 4)]); // zeros: identity blocks
        }
        Files.write(file, out.toByteArray());
        return file;
    }

    private static long align(long n) {
        return (n + 31) / 32 * 32;
    }

    private static void pad(ByteArrayOutputStream out) {
        while (out.size() % 32 != 0) {
            out.write(0);
        }
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static byte[] string(String s) {
        byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
        return le(8 + utf8.length).putLong(utf8.length).put(utf8).array();
    }

    private static byte[] kvString(String key, String value) {
        byte[] k = string(key);
        byte[] v = string(value);
        return le(k.length + 4 + v.length).put(k).putInt(8).put(v).array();
    }

    private static byte[] kvU32(String key, int value) {
        byte[] k = string(key);
        return le(k.length + 8).put(k).putInt(4).putInt(value).array();
    }

    private static byte[] kvBool(String key, boolean value) {
        byte[] k = string(key);
        return le(k.length + 5).put(k).putInt(7).put((byte) (value ? 1 : 0)).array();
    }
}
