package dev.llamaspec.spring;

import dev.llamaspec.GenerationOptions;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.Speculation;
import java.time.Duration;
import org.springframework.beans.factory.InitializingBean;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * The {@code llamaspec.*} settings. Once bound they are checked by {@link #validate()}, which explains
 * the first bad one, so that nothing is loaded with a bad setting.
 */
@ConfigurationProperties("llamaspec")
public class LlamaspecProperties implements InitializingBean {

    /** Path of the GGUF model file (required). */
    private String model;

    /** Threads per session; 0 = the number of cores, at most 8. */
    private int threads = 0;

    /** Context size of each session in tokens; 0 = the model's training context, at most 4096. */
    private int contextSize = 0;

    /** Layers offloaded to a GPU: -1 = all, 0 = none. No effect without a GPU backend. */
    private int gpuLayers = -1;

    /** Default speculative decoding: none, lookup, recycling, lookahead or auto. */
    private String speculation = "none";

    /** Reserved for a Medusa heads file. Medusa heads are not supported yet: leave it empty. */
    private String heads = "";

    /** Sessions in the pool: how many generations run at once. */
    private int poolSize = 2;

    /** How long a request waits for a free session before it fails. */
    private Duration borrowTimeout = Duration.ofSeconds(30);

    /** Default maximum number of tokens generated per request. */
    private int maxTokens = 256;

    /** Default sampling temperature; 0 = greedy decoding. */
    private float temperature = 0.8f;

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
        if (heads != null && !heads.isBlank()) {
            throw new LlamaspecConfigurationException(
                    "llamaspec.heads is set to '" + heads + "', but Medusa heads are not supported yet.",
                    "Remove llamaspec.heads. For speculative decoding without trained heads set llamaspec.speculation"
                            + " to lookup, recycling, lookahead or auto.");
        }
        try {
            Speculation.parse(speculation == null ? "" : speculation);
        } catch (IllegalArgumentException e) {
            throw new LlamaspecConfigurationException("llamaspec.speculation is invalid: " + e.getMessage(),
                    "Set llamaspec.speculation to none, lookup, recycling, lookahead or auto.", e);
        }
        if (poolSize < 1 || poolSize > 256) {
            throw new LlamaspecConfigurationException("llamaspec.pool-size must be in [1, 256], got " + poolSize,
                    "Set llamaspec.pool-size to the number of generations that may run at once.");
        }
        if (borrowTimeout == null || borrowTimeout.isNegative()) {
            throw new LlamaspecConfigurationException(
                    "llamaspec.borrow-timeout must be zero or positive, got " + borrowTimeout,
                    "Set llamaspec.borrow-timeout to a duration such as 30s.");
        }
        check("llamaspec.threads / llamaspec.context-size / llamaspec.gpu-layers", this::modelOptions);
        check("llamaspec.max-tokens / llamaspec.temperature", () -> generationOptions().build());
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
        return ModelOptions.builder().threads(threads).contextSize(contextSize).gpuLayers(gpuLayers).build();
    }

    /**
     * Generation options with this configuration's defaults (max tokens, temperature, speculation), to
     * adjust per request.
     */
    public GenerationOptions.Builder generationOptions() {
        return GenerationOptions.builder().maxTokens(maxTokens).temperature(temperature)
                .speculation(Speculation.parse(speculation));
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
