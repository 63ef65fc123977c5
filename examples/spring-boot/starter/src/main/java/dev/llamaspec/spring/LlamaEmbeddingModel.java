package dev.llamaspec.spring;

import dev.llamaspec.EmbeddingOptions;
import dev.llamaspec.LlamaModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.springframework.ai.chat.metadata.DefaultUsage;
import org.springframework.ai.document.Document;
import org.springframework.ai.document.MetadataMode;
import org.springframework.ai.embedding.Embedding;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.ai.embedding.EmbeddingRequest;
import org.springframework.ai.embedding.EmbeddingResponse;
import org.springframework.ai.embedding.EmbeddingResponseMetadata;

/**
 * Spring AI's {@link EmbeddingModel} on a llamaspec model ({@link LlamaModel#embed(List, EmbeddingOptions)}):
 * the model's pooling, L2-normalised vectors. Usage metadata counts the texts' tokens. A request's
 * options (model name, dimensions) are not used.
 */
public class LlamaEmbeddingModel implements EmbeddingModel, AutoCloseable {
    private final LlamaModel model;
    private final EmbeddingOptions options;
    private final String modelName;
    private final boolean ownsModel;

    /** Embeddings of {@code model}, which stays the caller's to close. */
    public LlamaEmbeddingModel(LlamaModel model, EmbeddingOptions options) {
        this(model, options, false);
    }

    /** Embeddings of {@code model}; with {@code ownsModel}, {@link #close()} closes it. */
    public LlamaEmbeddingModel(LlamaModel model, EmbeddingOptions options, boolean ownsModel) {
        this.model = Objects.requireNonNull(model, "model");
        this.options = Objects.requireNonNull(options, "options");
        this.modelName = ModelNames.of(model);
        this.ownsModel = ownsModel;
    }

    /** The model whose embeddings these are. */
    public LlamaModel model() {
        return model;
    }

    /** Closes the model when this embedding model owns it (llamaspec.embedding-model); else does nothing. */
    @Override
    public void close() {
        if (ownsModel) {
            model.close();
        }
    }

    /**
     * @throws IllegalArgumentException for no texts or an empty text
     * @throws dev.llamaspec.LlamaException for a text longer than the embedding context
     */
    @Override
    public EmbeddingResponse call(EmbeddingRequest request) {
        List<String> texts = request.getInstructions();
        List<float[]> vectors = model.embed(texts, options);
        List<Embedding> embeddings = new ArrayList<>(vectors.size());
        for (int i = 0; i < vectors.size(); i++) {
            embeddings.add(new Embedding(vectors.get(i), i));
        }
        int tokens = 0;
        for (String text : texts) {
            tokens += model.tokenize(text).length;
        }
        return new EmbeddingResponse(embeddings, new EmbeddingResponseMetadata(modelName, new DefaultUsage(tokens, 0)));
    }

    @Override
    public float[] embed(Document document) {
        // the text with the metadata meant for embeddings, as Spring AI's other embedding models take it
        return model.embed(List.of(document.getFormattedContent(MetadataMode.EMBED)), options).get(0);
    }

    @Override
    public int dimensions() {
        return model.info().embeddingSize();
    }
}
