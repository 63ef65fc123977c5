package dev.llamaspec.langchain4j;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.Capability;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.DefaultChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.TokenUsage;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.GenerationStats;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.Speculation;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;

/**
 * What {@link LlamaChatModel} and {@link LlamaStreamingChatModel} share: the model and its ownership, the
 * sessions requests generate in, the generation defaults, and how a LangChain4j request becomes a
 * generation and a generation a {@link ChatResponse}.
 *
 * <p><b>Requests.</b> System, user (text) and AI messages are rendered with the model's chat template
 * ({@link Session#chat}). Of a request's parameters the adapters use max output tokens, temperature, top-p,
 * top-k, stop sequences and the response format: JSON, or JSON valid against a JSON Schema, enforced with a
 * grammar ({@link GenerationOptions.Builder#jsonSchema}); so {@link #supportedCapabilities()} has
 * {@link Capability#RESPONSE_FORMAT_JSON_SCHEMA} and AI Services returning a record get JSON of its schema.
 * The other generation options (min-p, repeat penalty, seed, speculation) are the builder's. What the engine
 * cannot do is refused with LangChain4j's {@link dev.langchain4j.exception.UnsupportedFeatureException},
 * never ignored: tools (specifications, a required tool choice, tool calls and results in the conversation),
 * frequency and presence penalties other than 0, images and other non-text content, another model's name.
 * Out-of-range values are {@link IllegalArgumentException}s naming the option.
 *
 * <p><b>Replies.</b> The token usage counts the prompt's tokens and the generated ones; the finish reason
 * is STOP (end of text, a stop sequence, a complete grammar), LENGTH (max tokens, a full context) or OTHER
 * (cancelled); the metadata is a {@link LlamaChatResponseMetadata} with the engine's stop reason, the
 * speculation used and the statistics.
 *
 * <p><b>Threads and sessions.</b> Thread-safe. Each request borrows one of at most
 * {@link Builder#maxSessions(int) maxSessions} sessions of the model (default 2): the first is created by
 * {@code build()}, the others when concurrent requests need them; a request finding all lent waits for one.
 * A returned session keeps its KV cache and the most recently used is lent next, so a conversation that goes
 * on (LangChain4j resends it whole each turn) evaluates only its new tokens.
 *
 * <p><b>Ownership.</b> Built from {@link Builder#modelPath(Path)}, an adapter loads and owns the model:
 * {@link #close()} closes it, ending generations in progress. Built from {@link Builder#model(LlamaModel)}
 * the model stays the caller's (one model can serve a {@link LlamaChatModel}, a {@link LlamaStreamingChatModel}
 * and a {@link LlamaEmbeddingModel}): {@code close()} closes only the adapter's sessions, those lent when they
 * come back. After {@code close()} every call throws {@link IllegalStateException}; closing twice does nothing.
 */
public abstract sealed class LlamaChatModelBase implements AutoCloseable
        permits LlamaChatModel, LlamaStreamingChatModel {
    private final AdapterModel adapted;
    private final SessionPool sessions;
    private final GenerationOptions defaults;
    private final String modelName;
    private final List<ChatModelListener> listeners;

    /** Checks the builder's settings, loads the model when given a path, and creates the first session. */
    LlamaChatModelBase(Builder<?> builder) {
        String adapter = getClass().getSimpleName();
        builder.source.check(adapter);
        if (builder.maxSessions < 1) {
            throw new IllegalArgumentException(adapter + ": maxSessions must be at least 1, got "
                    + builder.maxSessions);
        }
        this.defaults = builder.generationDefaults();
        SessionOptions sessionOptions = builder.sessionDefaults();
        this.listeners = builder.listeners;
        this.adapted = builder.source.open(adapter);
        try {
            this.modelName = ModelSource.nameOf(adapted.model());
            this.sessions = new SessionPool(adapted.model(), sessionOptions, builder.maxSessions);
        } catch (RuntimeException | Error e) {
            if (adapted.owned()) {
                adapted.model().close();
            }
            throw e;
        }
    }

    /** The request's conversation in the Java API's terms (see the class comment for what is refused). */
    final List<ChatMessage> messages(ChatRequest request) {
        ensureOpen();
        return ChatRequests.toChatMessages(request.messages());
    }

    /** The defaults overridden by the request's parameters (see the class comment for what is refused). */
    final GenerationOptions options(ChatRequest request) {
        return ChatRequests.toGenerationOptions(request.parameters(), defaults, modelName);
    }

    /**
     * A session for one request, waiting while all are lent; give it back with {@link #giveBack}.
     *
     * @throws IllegalStateException after {@link #close()}
     */
    final Session borrow() {
        ensureOpen();
        return sessions.borrow();
    }

    final void giveBack(Session session) {
        sessions.giveBack(session);
    }

    final ChatResponse response(Generation generation, GenerationOptions options) {
        GenerationStats stats = generation.stats();
        return ChatResponse.builder()
                .aiMessage(AiMessage.from(generation.text()))
                .metadata(LlamaChatResponseMetadata.builder()
                        .id("llamaspec-" + UUID.randomUUID())
                        .modelName(modelName)
                        .tokenUsage(new TokenUsage(stats.promptTokens(), stats.generatedTokens()))
                        .finishReason(ChatRequests.finishReason(generation.stopReason()))
                        .stopReason(generation.stopReason())
                        .speculation(options.speculation().kind())
                        .stats(stats)
                        .build())
                .build();
    }

    /** The builder's generation defaults as LangChain4j's parameters; a request's parameters override them. */
    public ChatRequestParameters defaultRequestParameters() {
        return DefaultChatRequestParameters.builder()
                .modelName(modelName)
                .temperature((double) defaults.temperature())
                .topP((double) defaults.topP())
                .topK(defaults.topK())
                .maxOutputTokens(defaults.maxTokens())
                .stopSequences(defaults.stop())
                .build();
    }

    /** JSON Schema response formats, enforced with a grammar. */
    public Set<Capability> supportedCapabilities() {
        return Set.of(Capability.RESPONSE_FORMAT_JSON_SCHEMA);
    }

    public List<ChatModelListener> listeners() {
        return listeners;
    }

    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    /** The generation options a request starts from. */
    public GenerationOptions defaultGenerationOptions() {
        return defaults;
    }

    /** The model the replies come from (the caller's, or the one this adapter loaded and owns). */
    public LlamaModel model() {
        return adapted.model();
    }

    /** Whether {@link #close()} closes the model: it was loaded from {@link Builder#modelPath(Path)}. */
    public boolean ownsModel() {
        return adapted.owned();
    }

    /**
     * Closes the adapter's sessions, and the model when the adapter owns it, which ends generations in
     * progress: a blocking call then throws {@link IllegalStateException}, a stream gets it in
     * {@code onError}. Idempotent.
     */
    @Override
    public void close() {
        adapted.close(sessions::close);
    }

    public boolean isClosed() {
        return adapted.isClosed();
    }

    final void ensureOpen() {
        adapted.ensureOpen();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "{" + modelName + (isClosed() ? ", closed" : "") + "}";
    }

    /**
     * The settings of {@link LlamaChatModel.Builder} and {@link LlamaStreamingChatModel.Builder}. Set the
     * model ({@link #modelPath} or {@link #model}); the rest is optional. Generation settings start from
     * {@link #generationOptions} (default: the Java API's defaults) and the individual setters override them
     * whatever the order; likewise {@link #contextSize} and {@link #threads} override {@link #sessionOptions}.
     * Everything is checked by {@code build()}, which then loads the model when given a path and creates the
     * first session; it throws {@link IllegalStateException} with no model, both a path and a model, or
     * modelOptions beside a model; {@link IllegalArgumentException} naming an out-of-range setting (before
     * loading anything); {@link dev.llamaspec.LlamaException} when the model cannot be loaded (naming the path
     * and the reason) or its first session cannot be created.
     */
    public abstract static sealed class Builder<B extends Builder<B>>
            permits LlamaChatModel.Builder, LlamaStreamingChatModel.Builder {
        private final ModelSource source = new ModelSource();
        private SessionOptions sessionOptions;
        private Integer contextSize;
        private Integer threads;
        private GenerationOptions generationOptions;
        private Double temperature;
        private Double topP;
        private Integer topK;
        private Integer maxTokens;
        private List<String> stopSequences;
        private Long seed;
        private Speculation speculation;
        private int maxSessions = 2;
        private List<ChatModelListener> listeners = List.of();

        Builder() {}

        @SuppressWarnings("unchecked")
        private B self() {
            return (B) this;
        }

        /** A GGUF file to load; the adapter owns the model and closes it in {@code close()}. */
        public B modelPath(Path modelPath) {
            source.path(modelPath);
            return self();
        }

        /** How {@link #modelPath} is loaded (threads, GPU layers, default context size); default the Java API's. */
        public B modelOptions(ModelOptions modelOptions) {
            source.options(modelOptions);
            return self();
        }

        /** A loaded model, which stays the caller's to close (after the adapter). */
        public B model(LlamaModel model) {
            source.model(model);
            return self();
        }

        /** The sessions' context size, threads and numerics; default the Java API's. */
        public B sessionOptions(SessionOptions sessionOptions) {
            this.sessionOptions = Objects.requireNonNull(sessionOptions, "sessionOptions");
            return self();
        }

        /** Context size of each session in tokens; 0 = the model's default. */
        public B contextSize(int contextSize) {
            this.contextSize = contextSize;
            return self();
        }

        /** Threads of each session; 0 = the model's default (automatic). */
        public B threads(int threads) {
            this.threads = threads;
            return self();
        }

        /** The generation settings a request starts from; default {@link GenerationOptions#defaults()}. */
        public B generationOptions(GenerationOptions generationOptions) {
            this.generationOptions = Objects.requireNonNull(generationOptions, "generationOptions");
            return self();
        }

        /** Sampling temperature; 0 = greedy. */
        public B temperature(double temperature) {
            this.temperature = temperature;
            return self();
        }

        public B topP(double topP) {
            this.topP = topP;
            return self();
        }

        public B topK(int topK) {
            this.topK = topK;
            return self();
        }

        /** Most tokens of a reply (a request's maxOutputTokens overrides it). */
        public B maxTokens(int maxTokens) {
            this.maxTokens = maxTokens;
            return self();
        }

        public B stopSequences(List<String> stopSequences) {
            this.stopSequences = List.copyOf(stopSequences);
            return self();
        }

        /** A fixed sampling seed (see {@link GenerationOptions.Builder#seed(long)}); default random. */
        public B seed(long seed) {
            this.seed = seed;
            return self();
        }

        /** Speculative decoding for every request: the same replies, at another speed. Default none. */
        public B speculation(Speculation speculation) {
            this.speculation = Objects.requireNonNull(speculation, "speculation");
            return self();
        }

        /** How many requests generate at once, each in its own session (default 2); the others wait. */
        public B maxSessions(int maxSessions) {
            this.maxSessions = maxSessions;
            return self();
        }

        /** LangChain4j's listeners of every request, response and error. */
        public B listeners(List<ChatModelListener> listeners) {
            this.listeners = List.copyOf(listeners);
            return self();
        }

        private GenerationOptions generationDefaults() {
            GenerationOptions.Builder b = (generationOptions != null ? generationOptions : GenerationOptions.defaults())
                    .toBuilder();
            if (temperature != null) {
                b.temperature(temperature.floatValue());
            }
            if (topP != null) {
                b.topP(topP.floatValue());
            }
            if (topK != null) {
                b.topK(topK);
            }
            if (maxTokens != null) {
                b.maxTokens(maxTokens);
            }
            if (stopSequences != null) {
                b.stop(stopSequences);
            }
            if (seed != null) {
                b.seed(seed);
            }
            if (speculation != null) {
                b.speculation(speculation);
            }
            return b.build();
        }

        private SessionOptions sessionDefaults() {
            SessionOptions base = sessionOptions != null ? sessionOptions : SessionOptions.defaults();
            if (contextSize == null && threads == null) {
                return base;
            }
            SessionOptions.Builder b = SessionOptions.builder().contextSize(base.contextSize())
                    .batchSize(base.batchSize()).threads(base.threads()).flashAttention(base.flashAttention())
                    .kvCacheF32(base.kvCacheF32()).strictNumerics(base.strictNumerics());
            if (contextSize != null) {
                b.contextSize(contextSize);
            }
            if (threads != null) {
                b.threads(threads);
            }
            return b.build();
        }
    }
}
