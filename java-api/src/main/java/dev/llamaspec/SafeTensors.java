package dev.llamaspec;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The index of a safetensors file: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range ({@code data_offsets}, relative to the end of the header),
 * then the data. Only the header is read; every entry is checked against the file (the range lies
 * in the data and has exactly shape x dtype-size bytes), so a caller can read a tensor's bytes at
 * {@link Tensor#offset()} without further checks. {@code __metadata__} is ignored.
 *
 * <p>Every problem with the file is a {@link LlamaException} with {@link ErrorCode#MODEL_LOAD}
 * naming the file and what is wrong.
 */
final class SafeTensors {
    /** The safetensors format's own bound on the header. */
    static final long MAX_HEADER = 100_000_000;

    private static final Map<String, Integer> DTYPE_SIZES = Map.ofEntries(Map.entry("BOOL", 1), Map.entry("U8", 1),
            Map.entry("I8", 1), Map.entry("F8_E4M3", 1), Map.entry("F8_E5M2", 1), Map.entry("I16", 2),
            Map.entry("U16", 2), Map.entry("F16", 2), Map.entry("BF16", 2), Map.entry("I32", 4), Map.entry("U32", 4),
            Map.entry("F32", 4), Map.entry("I64", 8), Map.entry("U64", 8), Map.entry("F64", 8));

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .disable(JsonParser.Feature.AUTO_CLOSE_SOURCE)
            .build();

    /** One tensor: its dtype (a safetensors name such as {@code F16}), shape and absolute byte range. */
    static final class Tensor {
        private final String name;
        private final String dtype;
        private final long[] shape;
        private final long offset;
        private final long size;

        Tensor(String name, String dtype, long[] shape, long offset, long size) {
            this.name = name;
            this.dtype = dtype;
            this.shape = shape;
            this.offset = offset;
            this.size = size;
        }

        String name() {
            return name;
        }

        String dtype() {
            return dtype;
        }

        long[] shape() {
            return shape.clone();
        }

        /** Where the data starts, in bytes from the start of the file. */
        long offset() {
            return offset;
        }

        /** Bytes of data. */
        long size() {
            return size;
        }

        @Override
        public String toString() {
            return name + " " + dtype + " " + Arrays.toString(shape);
        }
    }

    private final Path file;
    private final Map<String, Tensor> tensors;

    private SafeTensors(Path file, Map<String, Tensor> tensors) {
        this.file = file;
        this.tensors = tensors;
    }

    Path file() {
        return file;
    }

    /** The tensors by name, in the header's order. */
    Map<String, Tensor> tensors() {
        return tensors;
    }

    /** Reads and checks the header of {@code file}. */
    static SafeTensors read(Path file) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long fileSize = channel.size();
            if (fileSize < 8) {
                throw bad(file, "the file has " + fileSize + " bytes, too short for the 8-byte header length");
            }
            ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, length, 0);
            long n = length.flip().getLong();
            if (n < 2 || n > fileSize - 8) {
                throw bad(file, "the header length " + Long.toUnsignedString(n) + " does not fit in the file ("
                        + fileSize + " bytes)");
            }
            if (n > MAX_HEADER) {
                throw bad(file, "the header length " + n + " exceeds the format's limit of " + MAX_HEADER + " bytes");
            }
            ByteBuffer header = ByteBuffer.allocate((int) n);
            readFully(channel, header, 8);
            return new SafeTensors(file, parse(file, header.array(), fileSize - 8 - n, 8 + n));
        } catch (IOException e) {
            throw new LlamaException(ErrorCode.MODEL_LOAD, "cannot read the safetensors file " + file + ": " + e, e);
        }
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
        }
    }

    private static Map<String, Tensor> parse(Path file, byte[] header, long dataSize, long dataStart) {
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (JacksonException e) {
            throw new LlamaException(ErrorCode.MODEL_LOAD, "the header of the safetensors file " + file
                    + " is not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new LlamaException(ErrorCode.MODEL_LOAD, "cannot parse the header of " + file + ": " + e, e);
        }
        if (root == null || !root.isObject()) {
            throw bad(file, "the header is not a JSON object");
        }
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            tensors.put(e.getKey(), tensor(file, e.getKey(), e.getValue(), dataSize, dataStart));
        }
        return Collections.unmodifiableMap(tensors);
    }

    private static Tensor tensor(Path file, String name, JsonNode entry, long dataSize, long dataStart) {
        if (!entry.isObject()) {
            throw bad(file, "tensor '" + name + "' is not described by a JSON object");
        }
        JsonNode dtypeNode = entry.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw bad(file, "tensor '" + name + "' has no dtype string");
        }
        String dtype = dtypeNode.asText();
        Integer elementSize = DTYPE_SIZES.get(dtype);
        if (elementSize == null) {
            throw bad(file, "tensor '" + name + "' has the unknown dtype '" + dtype + "'");
        }
        long[] shape = longs(file, name, "shape", entry.get("shape"), -1);
        long[] range = longs(file, name, "data_offsets", entry.get("data_offsets"), 2);
        long begin = range[0];
        long end = range[1];
        if (begin > end || end > dataSize) {
            throw bad(file, "tensor '" + name + "' has data_offsets [" + begin + ", " + end
                    + "] outside the data (" + dataSize + " bytes after the header)");
        }
        long bytes;
        try {
            bytes = elementSize;
            for (long d : shape) {
                bytes = Math.multiplyExact(bytes, d);
            }
        } catch (ArithmeticException overflow) {
            throw bad(file, "tensor '" + name + "' has a shape too large to address: " + Arrays.toString(shape));
        }
        if (end - begin != bytes) {
            throw bad(file, "tensor '" + name + "' has " + (end - begin) + " bytes of data, but its shape "
                    + Arrays.toString(shape) + " of " + dtype + " needs " + bytes);
        }
        return new Tensor(name, dtype, shape, dataStart + begin, bytes);
    }

    /** An array of non-negative integers ({@code n} of them unless negative). */
    private static long[] longs(Path file, String name, String key, JsonNode node, int n) {
        if (node == null || !node.isArray() || (n >= 0 && node.size() != n)) {
            throw bad(file, "tensor '" + name + "' needs " + key + " as an array"
                    + (n >= 0 ? " of " + n + " integers" : " of integers"));
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0) {
                throw bad(file, "tensor '" + name + "' has " + key + " with a value that is not a non-negative"
                        + " 64-bit integer: " + v);
            }
            out[i] = v.asLong();
        }
        return out;
    }

    private static LlamaException bad(Path file, String what) {
        return new LlamaException(ErrorCode.MODEL_LOAD, "invalid safetensors file " + file + ": " + what);
    }
}
