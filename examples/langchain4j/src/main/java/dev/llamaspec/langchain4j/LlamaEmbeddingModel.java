package dev.llamaspec.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import dev.llamaspec.EmbeddingOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * LangChain4j's {@link EmbeddingModel} on a llamaspec model ({@link LlamaModel#embed(List, EmbeddingOptions)}):
 * one vector per text segment, of {@link #dimension()} floats, pooled as the options say (the model's own
 * pooling by default; mean for a generative model) and L2-normalised by default. A segment's metadata is
 * not embedded, only its text. The token usage counts the texts' tokens (with the BOS token the tokenizer
 * adds). Thread-safe; calls run one at a time per model and options.
 *
 * <pre>{@code
 * try (LlamaEmbeddingModel embeddings = LlamaEmbeddingModel.builder().modelPath(Path.of("model.gguf")).build()) {
 *     List<Embedding> vectors = embeddings.embedAll(segments).content();
 * }
 * }</pre>
 *
 * <p>Errors: a text longer than {@link EmbeddingOptions#contextSize()} tokens (512 by default) is a
 * {@link dev.llamaspec.LlamaException} with {@link dev.llamaspec.ErrorCode#CONTEXT_OVERFLOW} naming its index;
 * LangChain4j's per-request parameters (model name, dimensions, input type) are refused with its
 * {@link dev.langchain4j.exception.UnsupportedFeatureException}.
 *
 * <p>Ownership is as for {@link LlamaChatModel}: built from {@link Builder#modelPath(Path)} it owns the model
 * and {@link #close()} closes it; built from {@link Builder#model(LlamaModel)} the model stays the caller's
 * (one loaded model can serve a {@link LlamaChatModel} and this). After {@code close()} every call throws
 * {@link IllegalStateException}.
 */
public final class LlamaEmbeddingModel implements EmbeddingModel, AutoCloseable {
    private final AdapterModel adapted;
    private final LlamaModel model;
    private final EmbeddingOptions options;
    private final String modelName;

    private LlamaEmbeddingModel(AdapterModel adapted, EmbeddingOptions options) {
        this.adapted = adapted;
        this.model = adapted.model();
        this.options = options;
        this.modelName = ModelSource.nameOf(model);
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * The segments' embeddings, in their order; none for no segments.
     *
     * @throws dev.llamaspec.LlamaException for a text longer than the embedding context, naming its index
     * @throws IllegalStateException after {@link #close()}
     */
    @Override
    public Response<List<Embedding>> embedAll(List<TextSegment> segments) {
        Objects.requireNonNull(segments, "segments");
        adapted.ensureOpen();
        if (segments.isEmpty()) {
            return Response.from(List.of(), new TokenUsage(0));
        }
        List<String> texts = new ArrayList<>(segments.size());
        int tokens = 0;
        for (TextSegment segment : segments) {
            texts.add(segment.text());
            tokens += model.tokenize(segment.text()).length;
        }
        List<float[]> vectors = model.embed(texts, options);
        List<Embedding> embeddings = new ArrayList<>(vectors.size());
        for (float[] vector : vectors) {
            embeddings.add(Embedding.from(vector));
        }
        return Response.from(embeddings, new TokenUsage(tokens));
    }

    /** The model's embedding size. */
    @Override
    public int dimension() {
        adapted.ensureOpen();
        return model.info().embeddingSize();
    }

    /** The model's {@code general.name}, or its file name. */
    @Override
    public String modelName() {
        return modelName;
    }

    public EmbeddingOptions options() {
        return options;
    }

    /** The model the embeddings come from (the caller's, or the one this adapter loaded and owns). */
    public LlamaModel model() {
        return model;
    }

    /** Whether {@link #close()} closes the model: it was loaded from {@link Builder#modelPath(Path)}. */
    public boolean ownsModel() {
        return adapted.owned();
    }

    /** Closes the model when this adapter owns it; calls fail from now on. Idempotent. */
    @Override
    public void close() {
        adapted.close(() -> {});
    }

    public boolean isClosed() {
        return adapted.isClosed();
    }

    @Override
    public String toString() {
        return "LlamaEmbeddingModel{" + modelName + ", " + options + (isClosed() ? ", closed" : "") + "}";
    }

    /** Builds a {@link LlamaEmbeddingModel}: set the model ({@link #modelPath} or {@link #model}). */
    public static final class Builder {
        private final ModelSource source = new ModelSource();
        private EmbeddingOptions options = EmbeddingOptions.defaults();

        private Builder() {}

        /** A GGUF file to load; the embedding model owns it and closes it in {@link LlamaEmbeddingModel#close()}. */
        public Builder modelPath(Path modelPath) {
            source.path(modelPath);
            return this;
        }

        /** How {@link #modelPath} is loaded (threads, GPU layers); default the Java API's. */
        public Builder modelOptions(ModelOptions modelOptions) {
            source.options(modelOptions);
            return this;
        }

        /** A loaded model, which stays the caller's to close (after this embedding model). */
        public Builder model(LlamaModel model) {
            source.model(model);
            return this;
        }

        /** Pooling, normalisation and the longest text; default {@link EmbeddingOptions#defaults()}. */
        public Builder embeddingOptions(EmbeddingOptions options) {
            this.options = Objects.requireNonNull(options, "embeddingOptions");
            return this;
        }

        /**
         * @throws IllegalStateException with no model, or both a path and a model, or modelOptions beside a model
         * @throws dev.llamaspec.LlamaException when the model cannot be loaded, naming the path and the reason
         */
        public LlamaEmbeddingModel build() {
            source.check("LlamaEmbeddingModel");
            return new LlamaEmbeddingModel(source.open("LlamaEmbeddingModel"), options);
        }
    }
}
