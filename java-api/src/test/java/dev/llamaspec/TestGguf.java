package dev.llamaspec;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Copies of a GGUF file with one string key set (for tests: a chat template written into the test model),
 * by a reader and writer of its own (GGUF v3: magic, version, tensor count, key/value count, the key/values,
 * the tensor infos, padding to {@code general.alignment}, the tensor data). Everything but the key is copied
 * byte for byte; the tensor data keeps its offsets, which count from the start of the data. Public for the
 * chat example's tests (the test jar).
 */
public final class TestGguf {
    private static final int TYPE_UINT32 = 4;
    private static final int TYPE_STRING = 8;
    private static final int TYPE_ARRAY = 9;
    /** Sizes of the fixed-size value types, by type number (0 UINT8 ... 12 FLOAT64); strings and arrays vary. */
    private static final int[] SIZES = {1, 1, 2, 2, 4, 4, 4, 1, -1, -1, 8, 8, 8};

    private TestGguf() {}

    /** Writes {@code target}: {@code source} with the string {@code key} set to {@code value} (added when missing). */
    public static Path withString(Path source, Path target, String key, String value) throws IOException {
        ByteBuffer in = ByteBuffer.wrap(Files.readAllBytes(source)).order(ByteOrder.LITTLE_ENDIAN);
        if (in.getInt() != 0x46554747) { // "GGUF"
            throw new IOException(source + " is not a GGUF file");
        }
        int version = in.getInt();
        if (version != 3) {
            throw new IOException(source + ": GGUF version " + version + ", not 3");
        }
        long tensors = in.getLong();
        long kvs = in.getLong();
        ByteArrayOutputStream keyValues = new ByteArrayOutputStream();
        long alignment = 32;
        boolean replaced = false;
        for (long i = 0; i < kvs; i++) {
            int start = in.position();
            String k = readString(in);
            int type = in.getInt();
            if (k.equals("general.alignment") && type == TYPE_UINT32) {
                alignment = Integer.toUnsignedLong(in.getInt(in.position()));
            }
            skipValue(in, type);
            if (k.equals(key)) {
                keyValues.write(stringKeyValue(key, value));
                replaced = true;
            } else {
                keyValues.write(in.array(), start, in.position() - start);
            }
        }
        if (!replaced) {
            keyValues.write(stringKeyValue(key, value));
        }
        int infoStart = in.position();
        for (long i = 0; i < tensors; i++) {
            readString(in);
            int dims = in.getInt();
            in.position(in.position() + 8 * dims + 4 + 8); // dimensions, type, offset
        }
        int infoEnd = in.position();
        int dataStart = (int) align(infoEnd, alignment);

        ByteArrayOutputStream out = new ByteArrayOutputStream(in.capacity() + value.length() * 3 + 64);
        ByteBuffer header = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        header.putInt(0x46554747).putInt(3).putLong(tensors).putLong(replaced ? kvs : kvs + 1);
        out.write(header.array());
        keyValues.writeTo(out);
        out.write(in.array(), infoStart, infoEnd - infoStart);
        out.write(new byte[(int) (align(out.size(), alignment) - out.size())]);
        out.write(in.array(), dataStart, in.capacity() - dataStart);
        Files.write(target, out.toByteArray());
        return target;
    }

    private static long align(long n, long alignment) {
        return (n + alignment - 1) / alignment * alignment;
    }

    private static String readString(ByteBuffer in) {
        int n = (int) in.getLong();
        String s = new String(in.array(), in.position(), n, StandardCharsets.UTF_8);
        in.position(in.position() + n);
        return s;
    }

    private static void skipValue(ByteBuffer in, int type) throws IOException {
        if (type == TYPE_STRING) {
            readString(in);
        } else if (type == TYPE_ARRAY) {
            int itemType = in.getInt();
            long n = in.getLong();
            for (long i = 0; i < n; i++) {
                skipValue(in, itemType);
            }
        } else if (type >= 0 && type < SIZES.length && SIZES[type] > 0) {
            in.position(in.position() + SIZES[type]);
        } else {
            throw new IOException("unknown GGUF value type " + type);
        }
    }

    private static byte[] stringKeyValue(String key, String value) {
        byte[] k = key.getBytes(StandardCharsets.UTF_8);
        byte[] v = value.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + k.length + 4 + 8 + v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(k.length).put(k).putInt(TYPE_STRING).putLong(v.length).put(v);
        return b.array();
    }
}
