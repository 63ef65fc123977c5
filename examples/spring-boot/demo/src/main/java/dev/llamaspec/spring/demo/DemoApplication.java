package dev.llamaspec.spring.demo;

import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;

/**
 * An OpenAI-compatible service on one GGUF model:
 * {@code java -jar llamaspec-spring-boot-demo.jar --llamaspec.model=model.gguf}.
 */
@SpringBootApplication
public class DemoApplication {

    public static void main(String[] args) {
        SpringApplication.run(DemoApplication.class, args);
    }

    /**
     * Threads for streamed generations. Each holds a pooled session, so at most pool-size of them run
     * at once; shut down (cancelling generations through their sessions' close) with the context.
     */
    @Bean(destroyMethod = "shutdownNow")
    ExecutorService llamaspecStreamExecutor() {
        AtomicInteger count = new AtomicInteger();
        return Executors.newCachedThreadPool(task -> {
            Thread thread = new Thread(task, "llamaspec-stream-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        });
    }

    @Bean
    GenerationMetrics generationMetrics(MeterRegistry registry) {
        return new GenerationMetrics(registry);
    }
}
