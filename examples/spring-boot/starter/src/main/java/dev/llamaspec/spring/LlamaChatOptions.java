package dev.llamaspec.spring;

import java.util.List;
import java.util.Objects;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.DefaultChatOptions;
import org.springframework.ai.chat.prompt.DefaultChatOptionsBuilder;
import org.springframework.ai.model.tool.StructuredOutputChatOptions;

/**
 * The options of {@link LlamaChatModel}: Spring AI's common ones, and a JSON Schema the reply must be
 * valid against ({@link StructuredOutputChatOptions}). Spring AI's {@code ChatClient} sets the schema of
 * {@code .entity(MyRecord.class)} here when native structured output is enabled
 * ({@code AdvisorParams.ENABLE_NATIVE_STRUCTURED_OUTPUT}); the model then enforces it with a grammar
 * ({@link dev.llamaspec.GenerationOptions.Builder#jsonSchema(String)}) instead of only asking for it in
 * the prompt.
 *
 * <p>Immutable, like Spring AI's own options: {@link #builder()} makes them and {@link #mutate()} gives a
 * builder holding a copy.
 */
public final class LlamaChatOptions extends DefaultChatOptions implements StructuredOutputChatOptions {
    private final String outputSchema;

    private LlamaChatOptions(ChatOptions o, String outputSchema) {
        super(o.getModel(), o.getFrequencyPenalty(), o.getMaxTokens(), o.getPresencePenalty(),
                o.getStopSequences() == null ? null : List.copyOf(o.getStopSequences()), o.getTemperature(),
                o.getTopK(), o.getTopP());
        this.outputSchema = outputSchema;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The options of {@code options}, as LlamaChatOptions (its schema too when it has one). */
    public static LlamaChatOptions from(ChatOptions options) {
        if (options instanceof LlamaChatOptions llama) {
            return llama;
        }
        if (options == null) {
            return builder().build();
        }
        return new LlamaChatOptions(options,
                options instanceof StructuredOutputChatOptions structured ? structured.getOutputSchema() : null);
    }

    /** A JSON Schema the reply must be valid against, or null for free text. */
    @Override
    public String getOutputSchema() {
        return outputSchema;
    }

    @Override
    public Builder mutate() {
        return builder().model(getModel()).frequencyPenalty(getFrequencyPenalty()).maxTokens(getMaxTokens())
                .presencePenalty(getPresencePenalty()).stopSequences(getStopSequences())
                .temperature(getTemperature()).topK(getTopK()).topP(getTopP()).outputSchema(outputSchema);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LlamaChatOptions other && super.equals(other)
                && Objects.equals(outputSchema, other.outputSchema);
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + Objects.hashCode(outputSchema);
    }

    /** Builds {@link LlamaChatOptions}; {@link #combineWith} takes the values the other builder sets. */
    public static final class Builder extends DefaultChatOptionsBuilder<Builder>
            implements StructuredOutputChatOptions.Builder<Builder> {
        private String outputSchema;

        Builder() {
        }

        /** A JSON Schema the reply must be valid against, or null for free text. */
        @Override
        public Builder outputSchema(String outputSchema) {
            this.outputSchema = outputSchema;
            return this;
        }

        /**
         * This builder with every value {@code other} sets (non-null) taking the place of its own,
         * the schema included when {@code other} builds LlamaChatOptions.
         */
        @Override
        public Builder combineWith(ChatOptions.Builder<?> other) {
            super.combineWith(other);
            if (other instanceof Builder llama && llama.outputSchema != null) {
                this.outputSchema = llama.outputSchema;
            }
            return this;
        }

        @Override
        public LlamaChatOptions build() {
            return new LlamaChatOptions(super.build(), outputSchema);
        }
    }
}
