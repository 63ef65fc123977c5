package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/** Importing heads in the original Medusa format (config.json + medusa_lm_head.safetensors). */
class MedusaImportTest extends WithTestModel {
    @TempDir
    Path dir;

    private TestSafeTensors.Heads heads(int n, int layers, String... dtypes) {
        ModelInfo info = model.info();
        return new TestSafeTensors.Heads(n, layers, info.embeddingSize(), info.vocabularySize(), 7 + n + layers,
                dtypes);
    }

    @Test
    void importedWeightsGiveMedusasLogitsInEveryDtype() throws IOException {
        Object[][] cases = {{new String[] {"F32"}, 1, true}, {new String[] {"F16"}, 1, false},
            {new String[] {"BF16"}, 2, false}, {new String[] {"F16", "F32", "BF16"}, 1, true}};
        int c = 0;
        for (Object[] k : cases) {
            String[] dtypes = (String[]) k[0];
            int layers = (int) k[1];
            TestSafeTensors.Heads source = heads(2, layers, dtypes);
            Path medusa = source.writeDir(dir.resolve("medusa-" + c), (boolean) k[2]);
            Path out = MedusaImporter.importHeads(model, medusa, dir.resolve("imported-" + c++ + ".gguf"));
            try (MedusaHeads heads = MedusaHeads.load(model, out)) {
                assertEquals(2, heads.heads());
                assertEquals(layers, heads.layers());
                assertFalse(heads.sharedOutput());
                assertEquals(model.fingerprint(), heads.fingerprint());
                int hidden = source.hidden;
                float[] h = TestSafeTensors.uniform(new Random(c), 3 * hidden, 1.5f);
                float[] got = heads.logits(h, null, 3);
                for (int i = 0; i < 3; i++) {
                    float[][] want = source.logits(Arrays.copyOfRange(h, i * hidden, (i + 1) * hidden));
                    for (int head = 0; head < 2; head++) {
                        for (int v = 0; v < source.vocab; v++) {
                            float g = got[(i * 2 + head) * source.vocab + v];
                            float w = want[head][v];
                            assertEquals(w, g, 1e-3f + 1e-4f * Math.abs(w),
                                    Arrays.toString(dtypes) + " state " + i + " head " + head + " token " + v);
                        }
                    }
                }
            }
        }
    }

    @Test
    void importedHeadsDraftAndKeepPlainGreedyOutput() throws IOException {
        Path out = MedusaImporter.importHeads(model, heads(3, 1, "F16").writeDir(dir.resolve("m"), false),
                dir.resolve("heads.gguf"));
        try (MedusaHeads heads = MedusaHeads.load(model, out);
                Session session = model.newSession(SessionOptions.builder().strictNumerics(true).build())) {
            for (String prompt : TestModels.storyOpenings(1)) {
                Generation plain = session.generate(prompt, TestModels.greedy(32));
                Generation medusa = session.generate(prompt, TestModels.greedy(32).toBuilder()
                        .speculation(Speculation.medusa(heads).withBudget(false)).build());
                assertArrayEquals(plain.tokens(), medusa.tokens(), prompt);
                assertTrue(medusa.stats().draftedTokens() > 0, medusa.stats().toString());
            }
        }
    }

    @Test
    void badConfigsAreRefusedNamingTheKey() throws IOException {
        Path medusa = heads(2, 1, "F32").writeDir(dir.resolve("m"), true);
        Path config = medusa.resolve(MedusaImporter.CONFIG);
        Path out = dir.resolve("out.gguf");
        expect(ErrorCode.MODEL_LOAD, "lacks medusa_num_heads", () -> {
            Files.writeString(config, "{\"medusa_num_layers\": 1}");
            MedusaImporter.importHeads(model, medusa, out);
        });
        expect(ErrorCode.MODEL_LOAD, "lacks medusa_num_layers", () -> {
            Files.writeString(config, "{\"medusa_num_heads\": 2}");
            MedusaImporter.importHeads(model, medusa, out);
        });
        expect(ErrorCode.MODEL_LOAD, "medusa_num_heads = 17", () -> {
            Files.writeString(config, "{\"medusa_num_heads\": 17, \"medusa_num_layers\": 1}");
            MedusaImporter.importHeads(model, medusa, out);
        });
        expect(ErrorCode.MODEL_LOAD, "medusa_num_layers = \"1\"", () -> {
            Files.writeString(config, "{\"medusa_num_heads\": 2, \"medusa_num_layers\": \"1\"}");
            MedusaImporter.importHeads(model, medusa, out);
        });
        expect(ErrorCode.MODEL_LOAD, "is not valid JSON", () -> {
            Files.writeString(config, "{\"medusa_num_heads\": 2,");
            MedusaImporter.importHeads(model, medusa, out);
        });
        expect(ErrorCode.MODEL_LOAD, "is not a JSON object", () -> {
            Files.writeString(config, "[2, 1]");
            MedusaImporter.importHeads(model, medusa, out);
        });
        // more heads or blocks in the config than in the file: the first missing tensor is named
        expect(ErrorCode.MODEL_LOAD, "lack tensor '2.0.linear.weight'", () -> {
            Files.writeString(config, "{\"medusa_num_heads\": 3, \"medusa_num_layers\": 1}");
            MedusaImporter.importHeads(model, medusa, out);
        });
        // fewer: the tensors left over are named
        expect(ErrorCode.MODEL_LOAD, "unexpected tensor '1.0.linear.weight'", () -> {
            Files.writeString(config, "{\"medusa_num_heads\": 1, \"medusa_num_layers\": 1}");
            MedusaImporter.importHeads(model, medusa, out);
        });
        // sizes in the config that the tensors do not have
        int hidden = model.info().embeddingSize();
        expect(ErrorCode.MODEL_LOAD, "expected [" + hidden * 2 + ", " + hidden * 2 + "] (hidden size " + hidden * 2
                + " from", () -> {
                    Files.writeString(config, "{\"medusa_num_heads\": 2, \"medusa_num_layers\": 1, \"hidden_size\": "
                            + hidden * 2 + "}");
                    MedusaImporter.importHeads(model, medusa, out);
                });
        expect(ErrorCode.MODEL_LOAD, "Medusa config not found", () -> MedusaImporter.importHeads(model,
                dir.resolve("nowhere"), out));
        assertFalse(Files.exists(out));
    }

    @Test
    void headsForAnotherModelAreRefusedNamingTheSize() throws IOException {
        ModelInfo info = model.info();
        Path out = dir.resolve("out.gguf");
        Path narrow = new TestSafeTensors.Heads(1, 1, info.embeddingSize() / 2, info.vocabularySize(), 1, "F16")
                .writeDir(dir.resolve("narrow"), false);
        expect(ErrorCode.INVALID_ARGUMENT, "for hidden size " + info.embeddingSize() / 2 + ", the model", () ->
                MedusaImporter.importHeads(model, narrow, out));
        Path vocab = new TestSafeTensors.Heads(1, 1, info.embeddingSize(), info.vocabularySize() - 12, 1, "F16")
                .writeDir(dir.resolve("vocab"), true);
        expect(ErrorCode.INVALID_ARGUMENT, "vocabulary of " + (info.vocabularySize() - 12) + " tokens", () ->
                MedusaImporter.importHeads(model, vocab, out));
        assertFalse(Files.exists(out));
        assertThrows(IllegalStateException.class, () -> {
            Path ok = heads(1, 1, "F16").writeDir(dir.resolve("ok"), false);
            LlamaModel closed = LlamaModel.load(TestModels.model());
            closed.close();
            MedusaImporter.importHeads(closed, ok, out);
        });
    }

    @Test
    void badWeightsFilesAreRefusedNamingTheProblem() throws IOException {
        TestSafeTensors.Heads source = heads(2, 1, "F16");
        Path medusa = source.writeDir(dir.resolve("m"), false);
        Path weights = medusa.resolve(MedusaImporter.WEIGHTS);
        byte[] good = Files.readAllBytes(weights);
        Path out = dir.resolve("out.gguf");
        int hidden = source.hidden;

        Map<String, TestSafeTensors.Tensor> tensors = new LinkedHashMap<>(source.tensors);
        tensors.remove("1.0.linear.bias");
        TestSafeTensors.write(weights, tensors);
        expect(ErrorCode.MODEL_LOAD, "lack tensor '1.0.linear.bias'", () -> MedusaImporter.importHeads(model, medusa,
                out));

        tensors = new LinkedHashMap<>(source.tensors);
        tensors.put("1.0.linear.bias", TestSafeTensors.Tensor.of("F16", new long[] {hidden - 1}, new float[hidden - 1]));
        TestSafeTensors.write(weights, tensors);
        expect(ErrorCode.MODEL_LOAD, "'1.0.linear.bias' in " + weights + " has shape [" + (hidden - 1) + "], expected ["
                + hidden + "]", () -> MedusaImporter.importHeads(model, medusa, out));

        tensors = new LinkedHashMap<>(source.tensors);
        tensors.put("0.0.linear.bias", new TestSafeTensors.Tensor("I16", new long[] {hidden}, new byte[hidden * 2]));
        TestSafeTensors.write(weights, tensors);
        expect(ErrorCode.MODEL_LOAD, "has dtype I16, expected F32, F16 or BF16", () -> MedusaImporter.importHeads(model,
                medusa, out));

        tensors.put("0.0.linear.bias", new TestSafeTensors.Tensor("F12", new long[] {hidden}, new byte[hidden * 2]));
        TestSafeTensors.write(weights, tensors);
        expect(ErrorCode.MODEL_LOAD, "unknown dtype 'F12'", () -> MedusaImporter.importHeads(model, medusa, out));

        Files.write(weights, Arrays.copyOf(good, good.length - 100));
        expect(ErrorCode.MODEL_LOAD, "outside the data", () -> MedusaImporter.importHeads(model, medusa, out));

        byte[] longHeader = good.clone();
        ByteBuffer.wrap(longHeader).order(ByteOrder.LITTLE_ENDIAN).putLong(0, good.length);
        Files.write(weights, longHeader);
        expect(ErrorCode.MODEL_LOAD, "does not fit in the file", () -> MedusaImporter.importHeads(model, medusa, out));

        byte[] badJson = good.clone();
        badJson[8] = '[';
        Files.write(weights, badJson);
        expect(ErrorCode.MODEL_LOAD, "is not valid JSON", () -> MedusaImporter.importHeads(model, medusa, out));

        Files.write(weights, new byte[] {1, 2, 3});
        expect(ErrorCode.MODEL_LOAD, "too short", () -> MedusaImporter.importHeads(model, medusa, out));

        Files.delete(weights);
        Files.write(medusa.resolve("medusa_lm_head.pt"), new byte[] {0x50, 0x4b});
        expect(ErrorCode.MODEL_LOAD, "PyTorch pickle", () -> MedusaImporter.importHeads(model, medusa, out));
        assertFalse(Files.exists(out));
    }

    private static void expect(ErrorCode code, String fragment, Executable call) {
        LlamaException e = assertThrows(LlamaException.class, call);
        assertTrue(e.getMessage().contains(fragment), "expected \"" + fragment + "\" in: " + e.getMessage());
        assertEquals(code, e.code(), e.getMessage());
    }
}
