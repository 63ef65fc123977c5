package dev.llamaspec.spring.demo;

import dev.llamaspec.Generation;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Locale;

/**
 * Counts finished generations by endpoint, streaming and stop reason ({@code llamaspec.generations})
 * and their tokens ({@code llamaspec.generated.tokens}); see {@code /actuator/metrics}. A stream whose
 * client went away counts with the stop reason {@code cancelled}.
 */
final class GenerationMetrics {
    private final MeterRegistry registry;

    GenerationMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    void record(OpenAiRequest request, Generation generation) {
        String endpoint = request.kind == OpenAiRequest.Kind.CHAT ? "chat" : "completions";
        Counter.builder("llamaspec.generations")
                .description("Generations finished, by how they ended")
                .tag("endpoint", endpoint)
                .tag("stream", Boolean.toString(request.stream))
                .tag("stop_reason", generation.stopReason().name().toLowerCase(Locale.ROOT))
                .register(registry)
                .increment();
        Counter.builder("llamaspec.generated.tokens")
                .description("Tokens generated")
                .tag("endpoint", endpoint)
                .register(registry)
                .increment(generation.stats().generatedTokens());
    }
}
