package dev.llamaspec.langchain4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.embedding.request.EmbeddingRequest;
import dev.langchain4j.model.output.Response;
import dev.llamaspec.EmbeddingOptions;
import dev.llamaspec.LlamaModel;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** EmbeddingModel.embedAll against the Java API's embeddings of the same texts. */
class LlamaEmbeddingModelTest {
    private static final List<String> TEXTS = List.of("Once upon a time", "The little dog ran to the park.",
            "Lily liked to play with her red ball.");

    private static LlamaModel model;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModel.path(), TestModel.ONE_THREAD);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static List<TextSegment> segments() {
        return TEXTS.stream().map(TextSegment::from).toList();
    }

    private static int tokens(List<String> texts) {
        return texts.stream().mapToInt(text -> model.tokenize(text).length).sum();
    }

    @Test
    void embedAllGivesTheJavaApisVectorsAndUsage() {
        try (LlamaEmbeddingModel embeddings = LlamaEmbeddingModel.builder().model(model).build()) {
            List<float[]> expected = model.embed(TEXTS);
            Response<List<Embedding>> response = embeddings.embedAll(segments());

            assertEquals(3, response.content().size());
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(expected.get(i), response.content().get(i).vector(), "segment " + i);
            }
            assertFalse(Arrays.equals(expected.get(0), expected.get(1)));
            assertEquals(tokens(TEXTS), response.tokenUsage().inputTokenCount());
            assertTrue(response.tokenUsage().inputTokenCount() > 3 * 3);
            assertEquals(model.info().embeddingSize(), embeddings.dimension());
            assertEquals(model.info().embeddingSize(), response.content().get(0).dimension());

            Response<Embedding> one = embeddings.embed(TEXTS.get(1));
            assertArrayEquals(model.embed(TEXTS.get(1)), one.content().vector());
            assertEquals(tokens(List.of(TEXTS.get(1))), one.tokenUsage().inputTokenCount());
            assertTrue(embeddings.embedAll(List.of()).content().isEmpty());
        }
    }

    @Test
    void embeddingOptionsReachTheEngine() {
        EmbeddingOptions lastToken = EmbeddingOptions.builder().pooling(EmbeddingOptions.Pooling.LAST)
                .normalize(false).build();
        try (LlamaEmbeddingModel embeddings = LlamaEmbeddingModel.builder().model(model).embeddingOptions(lastToken)
                .build()) {
            List<float[]> expected = model.embed(TEXTS, lastToken);
            assertFalse(Arrays.equals(model.embed(TEXTS).get(0), expected.get(0)));
            List<Embedding> vectors = embeddings.embedAll(segments()).content();
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(expected.get(i), vectors.get(i).vector(), "segment " + i);
            }
        }
    }

    @Test
    void refusesPerRequestParameters() {
        try (LlamaEmbeddingModel embeddings = LlamaEmbeddingModel.builder().model(model).build()) {
            UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                    () -> embeddings.embed(EmbeddingRequest.builder().input("a dog").dimensions(8).build()));
            assertTrue(e.getMessage().contains("dimensions"), e.getMessage());
        }
    }
}
