package dev.llamaspec.spring;

import dev.llamaspec.ErrorCode;
import dev.llamaspec.LlamaException;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.SessionOptions;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Configures a {@link LlamaModel} loaded from {@code llamaspec.model} (closed on shutdown), a
 * {@link SessionPool} of its sessions, a Spring AI {@code ChatModel} ({@link LlamaChatModel}) and, with
 * the actuator present, the {@code llamaspec} health indicator. Each bean backs off when the application
 * defines its own.
 */
@AutoConfiguration
@ConditionalOnClass(LlamaModel.class)
@EnableConfigurationProperties(LlamaspecProperties.class)
public class LlamaspecAutoConfiguration {

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public LlamaModel llamaModel(LlamaspecProperties properties) {
        Path path = modelPath(properties.getModel());
        try {
            return LlamaModel.load(path, properties.modelOptions());
        } catch (LlamaException e) {
            String action = e.code() == ErrorCode.NATIVE_LIBRARY
                    ? "Make the llamaspec native library loadable on this platform (see the message above)."
                    : "Check that llamaspec.model names a GGUF model file that llama.cpp can load.";
            throw new LlamaspecConfigurationException("Cannot load the model " + path + ": " + e.getMessage(), action,
                    e);
        }
    }

    private static Path modelPath(String model) {
        String example = "Set llamaspec.model to the path of a GGUF model file, e.g. --llamaspec.model=models/model.gguf"
                + " (a relative path is resolved against the working directory).";
        if (model == null || model.isBlank()) {
            throw new LlamaspecConfigurationException("llamaspec.model is not set.", example);
        }
        Path path;
        try {
            path = Path.of(model).toAbsolutePath().normalize();
        } catch (InvalidPathException e) {
            throw new LlamaspecConfigurationException("llamaspec.model is not a valid path: " + e.getMessage(), example,
                    e);
        }
        if (!Files.isRegularFile(path)) {
            throw new LlamaspecConfigurationException("llamaspec.model is '" + model + "', but there is no file "
                    + path + ".", example);
        }
        return path;
    }

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public SessionPool llamaSessionPool(LlamaModel model, LlamaspecProperties properties) {
        try {
            return new SessionPool(model, SessionOptions.defaults(), properties.getPoolSize(),
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
        LlamaChatModel llamaChatModel(SessionPool pool, LlamaspecProperties properties) {
            return new LlamaChatModel(pool, properties.generationOptions().build());
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.actuate.health.HealthIndicator")
    @ConditionalOnProperty(name = "management.health.llamaspec.enabled", matchIfMissing = true)
    static class HealthConfiguration {

        @Bean
        @ConditionalOnMissingBean(name = "llamaspecHealthIndicator")
        LlamaspecHealthIndicator llamaspecHealthIndicator(LlamaModel model, SessionPool pool) {
            return new LlamaspecHealthIndicator(model, pool);
        }
    }
}
