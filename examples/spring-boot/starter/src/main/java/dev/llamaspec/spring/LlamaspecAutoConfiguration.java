package dev.llamaspec.spring;

import dev.llamaspec.ErrorCode;
import dev.llamaspec.LlamaException;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.MedusaHeads;
import dev.llamaspec.Speculation;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionOutcome;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.condition.SpringBootCondition;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;
import org.springframework.core.type.AnnotatedTypeMetadata;

/**
 * Configures a {@link LlamaModel} loaded from {@code llamaspec.model} (closed on shutdown), a
 * {@link SessionPool} of its sessions, the default {@link Speculation} (with {@link MedusaHeads} from
 * {@code llamaspec.heads} and a {@link DraftModel} from {@code llamaspec.draft-model} when these are set,
 * both closed on shutdown), a Spring AI {@code ChatModel} ({@link LlamaChatModel}), a Spring AI
 * {@code EmbeddingModel} ({@link LlamaEmbeddingModel}, of {@code llamaspec.embedding-model} when it is set)
 * and, with the actuator
 * present, the {@code llamaspec} health indicator. Each bean backs off when the application defines its
 * own.
 */
@AutoConfiguration
@ConditionalOnClass(LlamaModel.class)
@EnableConfigurationProperties(LlamaspecProperties.class)
public class LlamaspecAutoConfiguration {

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    @Conditional(MainModelCondition.class)
    public LlamaModel llamaModel(LlamaspecProperties properties) {
        Path path = filePath("llamaspec.model", properties.getModel(), "Set llamaspec.model to the path of a GGUF"
                + " model file, e.g. --llamaspec.model=models/model.gguf (a relative path is resolved against the"
                + " working directory).");
        try {
            return LlamaModel.load(path, properties.modelOptions());
        } catch (LlamaException e) {
            String action = e.code() == ErrorCode.NATIVE_LIBRARY
                    ? "Make the llamaspec native library loadable on this platform (see the message above)."
                    : e.code() == ErrorCode.RPC
                    ? "Start ggml-rpc-server at each address of llamaspec.rpc-servers, or correct the list."
                    : "Check that llamaspec.model names a GGUF model file that llama.cpp can load.";
            throw new LlamaspecConfigurationException("Cannot load the model " + path + ": " + e.getMessage(), action,
                    e);
        }
    }

    /** The absolute path of a file setting, checked to name a file; {@code fix} says how to set it. */
    private static Path filePath(String property, String value, String fix) {
        if (value == null || value.isBlank()) {
            throw new LlamaspecConfigurationException(property + (value == null ? " is not set." : " is empty."), fix);
        }
        Path path;
        try {
            path = Path.of(value).toAbsolutePath().normalize();
        } catch (InvalidPathException e) {
            throw new LlamaspecConfigurationException(property + " is not a valid path: " + e.getMessage(), fix, e);
        }
        if (!Files.isRegularFile(path)) {
            throw new LlamaspecConfigurationException(property + " is '" + value + "', but there is no file " + path
                    + ".", fix);
        }
        return path;
    }

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    @ConditionalOnProperty(prefix = "llamaspec", name = "heads")
    @Conditional(MainModelCondition.class)
    public MedusaHeads medusaHeads(LlamaModel model, LlamaspecProperties properties) {
        String fix = "Set llamaspec.heads to a Medusa heads file made for the model (llamaspec-train-heads or"
                + " MedusaTrainer writes one), or remove it.";
        Path path = filePath("llamaspec.heads", properties.getHeads(), fix);
        try {
            return MedusaHeads.load(model, path);
        } catch (LlamaException e) {
            throw new LlamaspecConfigurationException("Cannot load the Medusa heads " + path + " for the model "
                    + model.path() + ": " + e.getMessage(), fix, e);
        }
    }

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    @ConditionalOnProperty(prefix = "llamaspec", name = "draft-model")
    @Conditional(MainModelCondition.class)
    public DraftModel llamaDraftModel(LlamaModel model, LlamaspecProperties properties) {
        String fix = "Set llamaspec.draft-model to a smaller GGUF model with the same vocabulary as the model, or"
                + " remove it.";
        Path path = filePath("llamaspec.draft-model", properties.getDraftModel(), fix);
        LlamaModel draft;
        try {
            draft = LlamaModel.load(path, properties.localModelOptions());
        } catch (LlamaException e) {
            throw new LlamaspecConfigurationException("Cannot load the draft model " + path + ": " + e.getMessage(),
                    fix, e);
        }
        try {
            model.checkDraftModel(draft);
        } catch (LlamaException e) {
            draft.close();
            throw new LlamaspecConfigurationException("The draft model " + path + " does not fit the model "
                    + model.path() + ": " + e.getMessage(), fix, e);
        }
        return new DraftModel(draft);
    }

    /** The default speculation of {@code llamaspec.speculation}, with the heads or the draft model it needs. */
    @Bean
    @ConditionalOnMissingBean
    @Conditional(MainModelCondition.class)
    public Speculation llamaspecSpeculation(LlamaspecProperties properties, ObjectProvider<MedusaHeads> heads,
            ObjectProvider<DraftModel> draftModel) {
        DraftModel draft = draftModel.getIfAvailable();
        return properties.speculation(heads.getIfAvailable(), draft == null ? null : draft.model());
    }

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    @Conditional(MainModelCondition.class)
    public SessionPool llamaSessionPool(LlamaModel model, LlamaspecProperties properties) {
        try {
            return new SessionPool(model, properties.sessionOptions(), properties.getPoolSize(),
                    properties.getBorrowTimeout());
        } catch (LlamaException e) {
            throw new LlamaspecConfigurationException("Cannot create " + properties.getPoolSize()
                    + " sessions of the model " + model.path() + ": " + e.getMessage(),
                    "Lower llamaspec.pool-size or llamaspec.context-size.", e);
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.ai.chat.model.ChatModel")
    static class ChatModelConfiguration {

        @Bean
        @ConditionalOnMissingBean(LlamaChatModel.class)
        @Conditional(MainModelCondition.class)
        LlamaChatModel llamaChatModel(SessionPool pool, LlamaspecProperties properties, Speculation speculation) {
            return new LlamaChatModel(pool, properties.generationOptions(speculation).build());
        }

        /**
         * Embeddings (the model's pooling, normalised vectors) of llamaspec.embedding-model when it is set,
         * else of the main model; an EmbeddingModel bean of the application wins.
         */
        @Bean(destroyMethod = "close")
        @ConditionalOnMissingBean(org.springframework.ai.embedding.EmbeddingModel.class)
        LlamaEmbeddingModel llamaEmbeddingModel(ObjectProvider<LlamaModel> model, LlamaspecProperties properties) {
            String file = properties.getEmbeddingModel();
            if (file == null) {
                return new LlamaEmbeddingModel(model.getObject(), dev.llamaspec.EmbeddingOptions.defaults());
            }
            String fix = "Set llamaspec.embedding-model to a GGUF model file that llama.cpp can load, or remove it"
                    + " to embed with llamaspec.model.";
            Path path = filePath("llamaspec.embedding-model", file, fix);
            try {
                return new LlamaEmbeddingModel(LlamaModel.load(path, properties.localModelOptions()),
                        dev.llamaspec.EmbeddingOptions.defaults(), true);
            } catch (LlamaException e) {
                throw new LlamaspecConfigurationException("Cannot load the embedding model " + path + ": "
                        + e.getMessage(), fix, e);
            }
        }
    }

    /**
     * The main model's beans are made when llamaspec.model is set, and also when llamaspec.embedding-model
     * is not (then the missing llamaspec.model is what startup reports); with only llamaspec.embedding-model
     * set, the application gets the EmbeddingModel bean alone.
     */
    static final class MainModelCondition extends SpringBootCondition {
        @Override
        public ConditionOutcome getMatchOutcome(ConditionContext context, AnnotatedTypeMetadata metadata) {
            Environment env = context.getEnvironment();
            boolean model = env.containsProperty("llamaspec.model");
            boolean embeddings = env.containsProperty("llamaspec.embedding-model");
            return model || !embeddings
                    ? ConditionOutcome.match(model ? "llamaspec.model is set" : "llamaspec.embedding-model is not set")
                    : ConditionOutcome.noMatch("only llamaspec.embedding-model is set");
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.health.contributor.HealthIndicator")
    @ConditionalOnProperty(name = "management.health.llamaspec.enabled", matchIfMissing = true)
    static class HealthConfiguration {

        @Bean
        @ConditionalOnMissingBean(name = "llamaspecHealthIndicator")
        @Conditional(MainModelCondition.class)
        LlamaspecHealthIndicator llamaspecHealthIndicator(LlamaModel model, SessionPool pool) {
            return new LlamaspecHealthIndicator(model, pool);
        }
    }
}
