package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The safetensors reader: a valid file's index, each malformed header, and mutated files. */
class SafeTensorsTest {
    @TempDir
    Path dir;

    private static Map<String, TestSafeTensors.Tensor> sample() {
        Map<String, TestSafeTensors.Tensor> t = new LinkedHashMap<>();
        t.put("a", TestSafeTensors.Tensor.of("F32", new long[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6}));
        t.put("b", TestSafeTensors.Tensor.of("F16", new long[] {4}, new float[] {1, -2, 0.5f, 8}));
        t.put("c", TestSafeTensors.Tensor.of("BF16", new long[] {}, new float[] {3}));
        t.put("empty", new TestSafeTensors.Tensor("I64", new long[] {0, 5}, new byte[0]));
        return t;
    }

    @Test
    void validFileIsIndexed() throws IOException {
        Path file = TestSafeTensors.write(dir.resolve("ok.safetensors"), sample());
        SafeTensors st = SafeTensors.read(file);
        assertEquals(4, st.tensors().size());
        SafeTensors.Tensor a = st.tensors().get("a");
        assertEquals("F32", a.dtype());
        assertArrayEquals(new long[] {2, 3}, a.shape());
        assertEquals(24, a.size());
        byte[] bytes = Files.readAllBytes(file);
        float first = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getFloat((int) a.offset());
        assertEquals(1f, first);
        assertEquals(2, st.tensors().get("c").size());
        assertEquals(0, st.tensors().get("empty").size());
    }

    private Path withHeader(String json, int dataBytes) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        return Files.write(dir.resolve("h.safetensors"), b.array());
    }

    private void refused(String json, int dataBytes, String fragment) throws IOException {
        Path file = withHeader(json, dataBytes);
        LlamaException e = assertThrows(LlamaException.class, () -> SafeTensors.read(file), json);
        assertEquals(ErrorCode.MODEL_LOAD, e.code());
        assertTrue(e.getMessage().contains(fragment), "expected \"" + fragment + "\" in: " + e.getMessage());
    }

    @Test
    void malformedHeadersAreRefusedNamingTheProblem() throws IOException {
        refused("[]", 0, "not a JSON object");
        refused("{\"a\": 1}", 0, "'a' is not described by a JSON object");
        refused("{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "'a' has no dtype");
        refused("{\"a\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "unknown dtype 'Q4'");
        refused("{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "needs shape");
        refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4, "non-negative");
        refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4, "non-negative");
        refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4, "needs data_offsets");
        refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", 4, "outside the data");
        refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 4, "outside the data");
        refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 4, "needs 8");
        refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [9223372036854775807, 2], \"data_offsets\": [0, 4]}}", 4,
                "too large");
        refused("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 99999999999999999999]}}", 4,
                "not a non-negative 64-bit integer");
        refused("{\"a\": {}, \"a\": {}}", 0, "not valid JSON");
        refused("{\"a\": ", 0, "not valid JSON");
        refused("{} {}", 0, "not valid JSON");
        refused("\u00ff\u00fe", 0, "not valid JSON");
        // __metadata__ is ignored, whatever it holds
        Path meta = withHeader("{\"__metadata__\": [1, 2]}", 0);
        assertEquals(0, SafeTensors.read(meta).tensors().size());
    }

    @Test
    void headerLengthsOutsideTheFileAreRefused() throws IOException {
        for (long n : new long[] {-1, 0, 1, 1000, Long.MAX_VALUE}) {
            ByteBuffer b = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putLong(n);
            Path file = Files.write(dir.resolve("n.safetensors"), b.array());
            LlamaException e = assertThrows(LlamaException.class, () -> SafeTensors.read(file));
            assertTrue(e.getMessage().contains("does not fit in the file"), e.getMessage());
        }
        Path empty = Files.write(dir.resolve("e.safetensors"), new byte[5]);
        assertTrue(assertThrows(LlamaException.class, () -> SafeTensors.read(empty)).getMessage().contains("too short"));
        LlamaException missing = assertThrows(LlamaException.class, () -> SafeTensors.read(dir.resolve("none")));
        assertTrue(missing.getMessage().contains("cannot read"), missing.getMessage());
    }

    /** Fixed-seed mutations of a valid file: every outcome is an index or a LlamaException. */
    @Test
    void mutatedFilesGiveAnIndexOrLlamaException() throws IOException {
        byte[] good = TestSafeTensors.file(sample());
        Random random = new Random(20260101);
        String json = "{}[]\",:0123456789-.e ";
        Path file = dir.resolve("m.safetensors");
        int accepted = 0;
        for (int i = 0; i < 3000; i++) {
            byte[] m = good.clone();
            int edits = 1 + random.nextInt(4);
            for (int e = 0; e < edits; e++) {
                int at = random.nextInt(m.length);
                switch (random.nextInt(4)) {
                    case 0: m[at] = (byte) random.nextInt(256); break;
                    case 1: m[at] = (byte) json.charAt(random.nextInt(json.length())); break;
                    case 2: m = java.util.Arrays.copyOf(m, at); break;
                    default: m[Math.min(at, 7)] ^= (byte) (1 << random.nextInt(8)); break;
                }
                if (m.length == 0) {
                    break;
                }
            }
            Files.write(file, m);
            try {
                SafeTensors st = SafeTensors.read(file);
                for (SafeTensors.Tensor t : st.tensors().values()) {
                    assertTrue(t.offset() >= 8 && t.offset() + t.size() <= m.length, t.toString());
                }
                accepted++;
            } catch (LlamaException e) {
                assertEquals(ErrorCode.MODEL_LOAD, e.code(), e.getMessage());
            }
        }
        assertTrue(accepted > 0 && accepted < 3000, "accepted " + accepted);
    }
}
