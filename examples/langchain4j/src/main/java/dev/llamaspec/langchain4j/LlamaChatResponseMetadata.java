package dev.llamaspec.langchain4j;

import dev.langchain4j.model.chat.response.ChatResponseMetadata;
import dev.llamaspec.GenerationStats;
import dev.llamaspec.Speculation;
import dev.llamaspec.StopReason;
import java.util.Objects;

/**
 * The metadata of a {@link LlamaChatModel} reply: LangChain4j's (id, model name, token usage, finish
 * reason) and the engine's own account of the generation: why it stopped, the speculation it used and
 * its statistics (steps, drafted and accepted tokens, speed).
 */
public final class LlamaChatResponseMetadata extends ChatResponseMetadata {
    private final StopReason stopReason;
    private final Speculation.Kind speculation;
    private final GenerationStats stats;

    private LlamaChatResponseMetadata(Builder builder) {
        super(builder);
        this.stopReason = builder.stopReason;
        this.speculation = builder.speculation;
        this.stats = builder.stats;
    }

    /** Why the generation ended, in the engine's words ({@link #finishReason()} is LangChain4j's coarser one). */
    public StopReason stopReason() {
        return stopReason;
    }

    /** The speculative decoding the generation used. */
    public Speculation.Kind speculation() {
        return speculation;
    }

    public GenerationStats stats() {
        return stats;
    }

    @Override
    public Builder toBuilder() {
        Builder builder = builder().stopReason(stopReason).speculation(speculation).stats(stats);
        toBuilder(builder);
        return builder;
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public boolean equals(Object o) {
        return super.equals(o) && o instanceof LlamaChatResponseMetadata that && stopReason == that.stopReason
                && speculation == that.speculation && Objects.equals(stats, that.stats);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), stopReason, speculation, stats);
    }

    @Override
    public String toString() {
        return "LlamaChatResponseMetadata{id='" + id() + "', modelName='" + modelName() + "', tokenUsage="
                + tokenUsage() + ", finishReason=" + finishReason() + ", stopReason=" + stopReason + ", speculation="
                + speculation + ", stats=" + stats + "}";
    }

    public static final class Builder extends ChatResponseMetadata.Builder<Builder> {
        private StopReason stopReason;
        private Speculation.Kind speculation;
        private GenerationStats stats;

        private Builder() {}

        public Builder stopReason(StopReason stopReason) {
            this.stopReason = stopReason;
            return this;
        }

        public Builder speculation(Speculation.Kind speculation) {
            this.speculation = speculation;
            return this;
        }

        public Builder stats(GenerationStats stats) {
            this.stats = stats;
            return this;
        }

        @Override
        public LlamaChatResponseMetadata build() {
            return new LlamaChatResponseMetadata(this);
        }
    }
}
