package dev.llamaspec.spring.openaiclient;

import dev.llamaspec.spring.LlamaspecAutoConfiguration;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;

/**
 * A Spring AI application whose chat and embedding models are OpenAI's ({@code spring-ai-starter-model-openai}),
 * pointed at the demo by {@code spring.ai.openai.base-url}. It lives apart from the demo's package so that
 * the demo's component scan does not take it in; llamaspec's own auto-configuration is left out, as in an
 * application that only talks to the service.
 */
@SpringBootConfiguration
@EnableAutoConfiguration(exclude = LlamaspecAutoConfiguration.class)
public class OpenAiClientApplication {
}
