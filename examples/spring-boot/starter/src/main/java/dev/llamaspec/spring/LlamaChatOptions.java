package dev.llamaspec.spring;

import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.DefaultChatOptions;
import org.springframework.ai.model.tool.StructuredOutputChatOptions;

/**
 * The options of {@link LlamaChatModel}: Spring AI's common ones, and a JSON Schema the reply must be
 * valid against ({@link StructuredOutputChatOptions}). Spring AI's {@code ChatClient} sets the schema of
 * {@code .entity(MyRecord.class)} here when native structured output is enabled
 * ({@code AdvisorParams.ENABLE_NATIVE_STRUCTURED_OUTPUT}); the model then enforces it with a grammar
 * ({@link dev.llamaspec.GenerationOptions.Builder#jsonSchema(String)}) instead of only asking for it in
 * the prompt.
 */
public class LlamaChatOptions extends DefaultChatOptions implements StructuredOutputChatOptions {
    private String outputSchema;

    @Override
    public String getOutputSchema() {
        return outputSchema;
    }

    /** A JSON Schema the reply must be valid against, or null for free text. */
    @Override
    public void setOutputSchema(String outputSchema) {
        this.outputSchema = outputSchema;
    }

    /** The options of {@code options}, as LlamaChatOptions (its schema too when it has one). */
    public static LlamaChatOptions from(ChatOptions options) {
        LlamaChatOptions copy = new LlamaChatOptions();
        if (options != null) {
            copy.setModel(options.getModel());
            copy.setFrequencyPenalty(options.getFrequencyPenalty());
            copy.setMaxTokens(options.getMaxTokens());
            copy.setPresencePenalty(options.getPresencePenalty());
            copy.setStopSequences(options.getStopSequences());
            copy.setTemperature(options.getTemperature());
            copy.setTopK(options.getTopK());
            copy.setTopP(options.getTopP());
            if (options instanceof StructuredOutputChatOptions structured) {
                copy.setOutputSchema(structured.getOutputSchema());
            }
        }
        return copy;
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T extends ChatOptions> T copy() {
        return (T) from(this);
    }
}
