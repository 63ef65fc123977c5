package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** Embeddings on the real model (test-model's C++ test compares them with llama.cpp's own per-token output). */
class EmbeddingsTest extends WithTestModel {

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }

    @Test
    void vectorsHaveTheModelsSizeAndUnitLength() {
        float[] v = model.embed("Once upon a time");
        assertEquals(model.info().embeddingSize(), v.length);
        assertEquals(1.0, dot(v, v), 1e-5);
        // a generative model pools nothing itself: mean pooling
        assertEquals(EmbeddingOptions.Pooling.MEAN, model.embeddingPooling(EmbeddingOptions.defaults()));
        float[] raw = model.embed(List.of("Once upon a time"), EmbeddingOptions.builder().normalize(false).build()).get(0);
        double norm = Math.sqrt(dot(raw, raw));
        for (int i = 0; i < v.length; i++) {
            assertEquals(v[i], raw[i] / norm, 1e-5);
        }
    }

    @Test
    void aBatchEqualsOneByOneAndIdenticalTextsHaveCosineOne() {
        List<String> texts = new ArrayList<>(TestModels.storyOpenings(12));
        texts.add(texts.get(0));
        List<float[]> batch = model.embed(texts);
        assertEquals(texts.size(), batch.size());
        for (int i = 0; i < texts.size(); i++) {
            float[] one = model.embed(texts.get(i));
            for (int j = 0; j < one.length; j++) {
                assertEquals(one[j], batch.get(i)[j], 1e-4, "text " + i + ", component " + j);
            }
        }
        assertEquals(1.0, dot(batch.get(0), batch.get(texts.size() - 1)), 1e-5);
        assertTrue(dot(batch.get(0), batch.get(1)) < 0.9999, "different texts, different vectors");
    }

    @Test
    void poolingsDiffer() {
        String text = "The little dog ran to the park.";
        float[] mean = model.embed(List.of(text), EmbeddingOptions.builder().pooling(EmbeddingOptions.Pooling.MEAN).build()).get(0);
        float[] last = model.embed(List.of(text), EmbeddingOptions.builder().pooling(EmbeddingOptions.Pooling.LAST).build()).get(0);
        float[] cls = model.embed(List.of(text), EmbeddingOptions.builder().pooling(EmbeddingOptions.Pooling.CLS).build()).get(0);
        assertArrayEquals(mean, model.embed(text), 1e-6f);
        assertNotEquals(dot(mean, last), 1.0, 1e-3);
        assertNotEquals(dot(last, cls), 1.0, 1e-3);
    }

    @Test
    void concurrentCallsGetTheirOwnVectors() throws Exception {
        List<String> texts = TestModels.storyOpenings(8);
        List<float[]> expected = model.embed(texts);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<float[]>> futures = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                for (String t : texts) {
                    futures.add(pool.submit(() -> model.embed(t)));
                }
            }
            for (int i = 0; i < futures.size(); i++) {
                assertArrayEquals(expected.get(i % texts.size()), futures.get(i).get(), 1e-4f);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void badInputIsAClearError() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> model.embed(List.of()))
                .getMessage().contains("no texts"));
        assertEquals("text 1 is empty", assertThrows(IllegalArgumentException.class,
                () -> model.embed(List.of("a", ""))).getMessage());
        assertThrows(NullPointerException.class, () -> model.embed((String) null));
        String longText = "the cat sat on the mat. ".repeat(100);
        LlamaException e = assertThrows(LlamaException.class, () -> model.embed(List.of("short", longText),
                EmbeddingOptions.builder().contextSize(64).build()));
        assertEquals(ErrorCode.CONTEXT_OVERFLOW, e.code());
        assertTrue(e.getMessage().startsWith("text 1 has ") && e.getMessage().contains("the embedding context holds"),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> EmbeddingOptions.builder().contextSize(4));
        // the model still embeds
        assertEquals(model.info().embeddingSize(), model.embed("again").length);
    }

    @Test
    void aClosedModelRefuses() {
        LlamaModel other = LlamaModel.load(TestModels.model());
        other.embed("warm");
        other.close();
        assertThrows(IllegalStateException.class, () -> other.embed("after"));
    }
}
