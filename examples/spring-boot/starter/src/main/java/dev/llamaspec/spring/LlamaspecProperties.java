package dev.llamaspec.spring;

import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.MedusaHeads;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.Speculation;
import java.time.Duration;
import java.util.Arrays;
import java.util.stream.Collectors;
import org.springframework.beans.factory.InitializingBean;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * The {@code llamaspec.*} settings. Once bound they are checked by {@link #validate()}, which explains
 * the first bad one, so that nothing is loaded with a bad setting. The defaults of the model and
 * generation settings are the library's ({@link ModelOptions#defaults()},
 * {@link GenerationOptions#defaults()}), read when the properties are created.
 */
@ConfigurationProperties("llamaspec")
public class LlamaspecProperties implements InitializingBean {

    /** Path of the GGUF model file (required). */
    private String model;

    /**
     * Threads per session; 0 = automatic: up to the number of cores (at most 8), divided among the sessions
     * generating at the moment and lowered while the machine is busy (default: the library's, 0).
     */
    private int threads = ModelOptions.defaults().threads();

    /**
     * Context size of each session in tokens; 0 = the model's training context, at most 4096 (default: the
     * library's, 0).
     */
    private int contextSize = ModelOptions.defaults().contextSize();

    /**
     * Layers offloaded to a GPU: -1 = all, 0 = none. No effect without a GPU backend (default: the
     * library's, -1).
     */
    private int gpuLayers = ModelOptions.defaults().gpuLayers();

    /**
     * ggml RPC servers (ggml-rpc-server, HOST:PORT each) to split the model's layers over; the draft
     * model, the heads and the embedding model stay local. A server that goes away makes the model
     * unusable (the health goes DOWN) until the application restarts.
     */
    private java.util.List<String> rpcServers = new java.util.ArrayList<>();

    /** With llamaspec.rpc-servers: how long one remote operation may take before its server is given up. */
    private Duration rpcTimeout = ModelOptions.defaults().rpcTimeout();

    /**
     * Default speculative decoding, a name as Speculation.parse reads it: none, lookup, recycling, lookahead,
     * auto, medusa (needs llamaspec.heads) or draft (needs llamaspec.draft-model).
     */
    private String speculation = "none";

    /**
     * Path of a Medusa heads file made for the model (llamaspec-train-heads or MedusaTrainer writes one),
     * loaded at startup for llamaspec.speculation=medusa.
     */
    private String heads;

    /**
     * Path of a draft model for llamaspec.speculation=draft: a smaller GGUF model with the model's
     * vocabulary, loaded at startup with the model's threads, context size and GPU layers.
     */
    private String draftModel;

    /**
     * Path of a GGUF model for the EmbeddingModel bean, loaded at startup with the model's threads and GPU
     * layers; unset: the embeddings are the main model's. With only this set (no llamaspec.model), the
     * application gets the EmbeddingModel bean alone.
     */
    private String embeddingModel;

    /**
     * Strict numerics for the pool's sessions: flash attention off and keys and values in F32, so that greedy
     * output with speculation is token for token the output without it (by default it can differ where the
     * two likeliest tokens nearly tie). Slower.
     */
    private boolean strictNumerics = SessionOptions.defaults().strictNumerics();

    /** Sessions in the pool: how many generations run at once. */
    private int poolSize = 2;

    /** How long a request waits for a free session before it fails. */
    private Duration borrowTimeout = Duration.ofSeconds(30);

    /** Default maximum number of tokens generated per request (default: the library's, 256). */
    private int maxTokens = GenerationOptions.defaults().maxTokens();

    /** Default sampling temperature; 0 = greedy decoding (default: the library's, 0.8). */
    private float temperature = GenerationOptions.defaults().temperature();

    @Override
    public void afterPropertiesSet() {
        validate();
    }

    /**
     * Checks every setting except the model path (which a user-supplied model bean makes unnecessary).
     *
     * @throws LlamaspecConfigurationException naming the property, its value and what is allowed
     */
    public void validate() {
        speculationKind();
        if (poolSize < 1 || poolSize > 256) {
            throw new LlamaspecConfigurationException("llamaspec.pool-size must be in [1, 256], got " + poolSize,
                    "Set llamaspec.pool-size to the number of generations that may run at once.");
        }
        if (borrowTimeout == null || borrowTimeout.isNegative()) {
            throw new LlamaspecConfigurationException(
                    "llamaspec.borrow-timeout must be zero or positive, got " + borrowTimeout,
                    "Set llamaspec.borrow-timeout to a duration such as 30s.");
        }
        check("llamaspec.threads / llamaspec.context-size / llamaspec.gpu-layers / llamaspec.rpc-servers / "
                + "llamaspec.rpc-timeout", this::modelOptions);
        check("llamaspec.max-tokens / llamaspec.temperature", () -> generationOptions(Speculation.none()).build());
    }

    private static void check(String properties, Runnable build) {
        try {
            build.run();
        } catch (IllegalArgumentException e) {
            throw new LlamaspecConfigurationException(properties + ": " + e.getMessage(),
                    "Correct the value named above.", e);
        }
    }

    /** The model options these settings describe. */
    public ModelOptions modelOptions() {
        return localModelOptions().toBuilder().rpcServers(rpcServers).rpcTimeout(rpcTimeout).build();
    }

    /** The model options without the RPC servers: the draft model's and the embedding model's. */
    public ModelOptions localModelOptions() {
        return ModelOptions.builder().threads(threads).contextSize(contextSize).gpuLayers(gpuLayers).build();
    }

    /** Whether llamaspec.speculation is medusa. */
    boolean needsHeads() {
        return knownKind() == Speculation.Kind.MEDUSA;
    }

    /** Whether llamaspec.speculation is draft (or draft-model). */
    boolean needsDraftModel() {
        return knownKind() == Speculation.Kind.DRAFT_MODEL;
    }

    /** llamaspec.speculation as {@link Speculation#parse} reads it (surrounding blanks aside). */
    private String speculationName() {
        return speculation == null ? "" : speculation.strip();
    }

    /**
     * The strategy llamaspec.speculation names ({@link Speculation.Kind#parse}).
     *
     * @throws LlamaspecConfigurationException for an unknown name, with the library's message
     */
    private Speculation.Kind speculationKind() {
        try {
            return Speculation.Kind.parse(speculationName());
        } catch (IllegalArgumentException e) {
            throw new LlamaspecConfigurationException("llamaspec.speculation is invalid: " + e.getMessage(),
                    "Set llamaspec.speculation to one of " + Arrays.stream(Speculation.Kind.values())
                            .map(Speculation.Kind::canonicalName).collect(Collectors.joining(", ")) + ".", e);
        }
    }

    /** {@link #speculationKind()}, or null for an unknown name ({@link #validate()} reports it). */
    private Speculation.Kind knownKind() {
        try {
            return speculationKind();
        } catch (LlamaspecConfigurationException e) {
            return null;
        }
    }

    /**
     * The default speculation: llamaspec.speculation read by {@link Speculation#parse(String, MedusaHeads,
     * LlamaModel)}, medusa with {@code heads}, draft with {@code draftModel} (both may be null where they
     * are not needed).
     *
     * @throws LlamaspecConfigurationException when llamaspec.speculation is unknown, or medusa or draft and
     *     what it needs is null
     */
    public Speculation speculation(MedusaHeads heads, LlamaModel draftModel) {
        Speculation.Kind kind = speculationKind();
        if (kind == Speculation.Kind.MEDUSA && heads == null) {
            throw new LlamaspecConfigurationException("llamaspec.speculation is medusa, but no Medusa heads are"
                    + " configured.", "Set llamaspec.heads to a heads file made for the model (llamaspec-train-heads"
                    + " or MedusaTrainer writes one), or choose another llamaspec.speculation.");
        }
        if (kind == Speculation.Kind.DRAFT_MODEL && draftModel == null) {
            throw new LlamaspecConfigurationException("llamaspec.speculation is draft, but no draft model is"
                    + " configured.", "Set llamaspec.draft-model to a smaller GGUF model with the model's"
                    + " vocabulary, or choose another llamaspec.speculation.");
        }
        return Speculation.parse(speculationName(), heads, draftModel);
    }

    /**
     * Generation options with this configuration's defaults (max tokens, temperature, speculation), to
     * adjust per request. Medusa and draft need what was loaded at startup: for them use
     * {@link #generationOptions(Speculation)} with the auto-configured {@code Speculation} bean.
     *
     * @throws IllegalStateException when llamaspec.speculation is medusa or draft
     */
    public GenerationOptions.Builder generationOptions() {
        if (needsHeads() || needsDraftModel()) {
            throw new IllegalStateException("llamaspec.speculation=" + speculation + " needs what was loaded at"
                    + " startup: use generationOptions(speculation) with the auto-configured Speculation bean");
        }
        return generationOptions(speculation(null, null));
    }

    /** Generation options with this configuration's max tokens and temperature and {@code speculation}. */
    public GenerationOptions.Builder generationOptions(Speculation speculation) {
        return GenerationOptions.builder().maxTokens(maxTokens).temperature(temperature).speculation(speculation);
    }

    public String getModel() {
        return model;
    }

    public void setModel(String model) {
        this.model = model;
    }

    public int getThreads() {
        return threads;
    }

    public void setThreads(int threads) {
        this.threads = threads;
    }

    public int getContextSize() {
        return contextSize;
    }

    public void setContextSize(int contextSize) {
        this.contextSize = contextSize;
    }

    public int getGpuLayers() {
        return gpuLayers;
    }

    public void setGpuLayers(int gpuLayers) {
        this.gpuLayers = gpuLayers;
    }

    public java.util.List<String> getRpcServers() {
        return rpcServers;
    }

    public void setRpcServers(java.util.List<String> rpcServers) {
        this.rpcServers = rpcServers;
    }

    public Duration getRpcTimeout() {
        return rpcTimeout;
    }

    public void setRpcTimeout(Duration rpcTimeout) {
        this.rpcTimeout = rpcTimeout;
    }

    public String getSpeculation() {
        return speculation;
    }

    public void setSpeculation(String speculation) {
        this.speculation = speculation;
    }

    public String getHeads() {
        return heads;
    }

    public void setHeads(String heads) {
        this.heads = heads;
    }

    public String getDraftModel() {
        return draftModel;
    }

    public void setDraftModel(String draftModel) {
        this.draftModel = draftModel;
    }

    public String getEmbeddingModel() {
        return embeddingModel;
    }

    public void setEmbeddingModel(String embeddingModel) {
        this.embeddingModel = embeddingModel;
    }

    public boolean isStrictNumerics() {
        return strictNumerics;
    }

    public void setStrictNumerics(boolean strictNumerics) {
        this.strictNumerics = strictNumerics;
    }

    /** The pool's session options. */
    public SessionOptions sessionOptions() {
        return SessionOptions.builder().strictNumerics(strictNumerics).build();
    }

    public int getPoolSize() {
        return poolSize;
    }

    public void setPoolSize(int poolSize) {
        this.poolSize = poolSize;
    }

    public Duration getBorrowTimeout() {
        return borrowTimeout;
    }

    public void setBorrowTimeout(Duration borrowTimeout) {
        this.borrowTimeout = borrowTimeout;
    }

    public int getMaxTokens() {
        return maxTokens;
    }

    public void setMaxTokens(int maxTokens) {
        this.maxTokens = maxTokens;
    }

    public float getTemperature() {
        return temperature;
    }

    public void setTemperature(float temperature) {
        this.temperature = temperature;
    }
}
