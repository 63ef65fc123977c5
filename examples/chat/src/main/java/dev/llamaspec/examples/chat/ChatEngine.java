package dev.llamaspec.examples.chat;

import dev.llamaspec.ChatFormat;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.ErrorCode;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaException;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.Speculation;
import dev.llamaspec.TextChunk;
import dev.llamaspec.TokenStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A loaded model with its {@link Drafters}, one session and the conversation: turns a user line into a
 * streamed reply.
 * Used from one thread, except {@link #cancel()}, which any thread (a signal handler) may call.
 */
final class ChatEngine implements AutoCloseable {
    /** In chat mode with the library's plain format the model would go on to write the user's next turn. */
    static final String PLAIN_FORMAT_STOP = "\nUser:";

    /** What one reply did: the generation and how many old exchanges were left out of the prompt to make room. */
    record Reply(Generation generation, int droppedExchanges) {}

    private final LlamaModel model;
    private final Drafters drafters;
    private final Session session;
    private final Mode mode;
    private final GenerationOptions sampling;
    private final Conversation conversation = new Conversation();
    private SpeculationChoice speculation;
    private Speculation resolved;
    private Generation last;
    private SpeculationChoice lastSpeculation;
    private int contextStart;

    private ChatEngine(LlamaModel model, Drafters drafters, Session session, Mode mode, GenerationOptions sampling) {
        this.model = model;
        this.drafters = drafters;
        this.session = session;
        this.mode = mode;
        this.sampling = sampling;
    }

    /** The files to load: the model and, where given (else null), Medusa heads and a draft model for it. */
    record ModelFiles(Path model, Path heads, Path draftModel) {}

    /** What {@link #open} was doing when the library failed. */
    enum Part { MODEL, HEADS, DRAFT_MODEL, CONTEXT, SESSION }

    /** The library's failure ({@link #getCause()}, with its message) while loading {@link #part()}. */
    static final class OpenException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        private final Part part;

        OpenException(Part part, LlamaException cause) {
            super(cause.getMessage(), cause);
            this.part = part;
        }

        Part part() {
            return part;
        }

        /** Runs {@code step}, its {@link LlamaException} becoming an {@code OpenException} for {@code part}. */
        static <T> T during(Part part, Supplier<T> step) {
            try {
                return step.get();
            } catch (LlamaException e) {
                throw new OpenException(part, e);
            }
        }
    }

    /**
     * Loads the model, the heads and draft model for it, and opens a session.
     *
     * @param mode     the requested mode; AUTO becomes CHAT for a model with a chat template
     * @param sampling sampling and limits of every reply (its speculation and stop strings are replaced)
     * @throws OpenException when a file cannot be loaded, the heads or the draft model do not fit the model,
     *     or the context cannot be created: which of them, and the library's exception
     * @throws IllegalArgumentException when {@code speculation} needs heads or a draft model not given
     */
    static ChatEngine open(ModelFiles files, ModelOptions modelOptions, SessionOptions sessionOptions, Mode mode,
            GenerationOptions sampling, SpeculationChoice speculation) {
        return open(files, modelOptions, sessionOptions, mode, sampling, speculation, null);
    }

    /**
     * {@link #open(ModelFiles, ModelOptions, SessionOptions, Mode, GenerationOptions, SpeculationChoice)}
     * resuming the session {@link #saveSession} saved to {@code sessionFile} (null: a new session): its
     * KV cache and, when the file holds one, its conversation.
     *
     * @throws OpenException with part SESSION when the session file cannot be restored into this model
     *     and these options, or holds a conversation of the other mode
     */
    static ChatEngine open(ModelFiles files, ModelOptions modelOptions, SessionOptions sessionOptions, Mode mode,
            GenerationOptions sampling, SpeculationChoice speculation, Path sessionFile) {
        LlamaModel model = OpenException.during(Part.MODEL, () -> LlamaModel.load(files.model(), modelOptions));
        Drafters drafters = null;
        try {
            drafters = Drafters.load(model, files.heads(), files.draftModel(), modelOptions);
            Session session = sessionFile == null
                    ? OpenException.during(Part.CONTEXT, () -> model.newSession(sessionOptions))
                    : OpenException.during(Part.SESSION, () -> model.restoreSession(sessionFile, sessionOptions));
            ChatEngine engine = new ChatEngine(model, drafters, session, mode.resolve(model.hasChatTemplate()),
                    sampling);
            try {
                session.attachment().ifPresent(engine::resume);
            } catch (IllegalArgumentException e) {
                session.close();
                throw new OpenException(Part.SESSION,
                        new LlamaException(ErrorCode.SESSION_FILE, sessionFile + ": " + e.getMessage()));
            }
            engine.setSpeculation(speculation);
            return engine;
        } catch (RuntimeException e) {
            if (drafters != null) {
                drafters.close();
            }
            model.close();
            throw e;
        }
    }

    LlamaModel model() {
        return model;
    }

    /** CHAT or COMPLETION. */
    Mode mode() {
        return mode;
    }

    /** The mode as the banner says it; in chat mode, how the conversation becomes the prompt. */
    String modeDescription() {
        if (mode != Mode.CHAT) {
            return "completion mode (each line is continued as text)";
        }
        switch (model.chatFormat()) {
            case LLAMA_CPP:
                return "chat mode (the model's chat template, rendered by llama.cpp)";
            case JINJA:
                return "chat mode (the model's chat template, rendered as Jinja)";
            default:
                return model.hasChatTemplate()
                        ? "chat mode (plain User:/Assistant: format: " + model.plainChatReason().orElse("") + ")"
                        : "chat mode (no chat template: plain User:/Assistant: format)";
        }
    }

    Conversation conversation() {
        return conversation;
    }

    SpeculationChoice speculation() {
        return speculation;
    }

    /**
     * @throws IllegalArgumentException when the strategy needs heads or a draft model that were not
     *     loaded at startup; the speculation is then unchanged
     */
    void setSpeculation(SpeculationChoice speculation) {
        Objects.requireNonNull(speculation, "speculation");
        this.resolved = speculation.speculation(drafters);
        this.speculation = speculation;
    }

    int contextSize() {
        return session.contextSize();
    }

    /** The last reply's generation, or null before the first (and after a reset). */
    Generation last() {
        return last;
    }

    /** The speculation the last reply used. */
    SpeculationChoice lastSpeculation() {
        return lastSpeculation;
    }

    /** The options of the next reply: the sampling flags, the current speculation, the mode's stop string. */
    GenerationOptions options() {
        GenerationOptions.Builder b = sampling.toBuilder().speculation(resolved);
        if (mode == Mode.CHAT && model.chatFormat() == ChatFormat.PLAIN) {
            b.stop(PLAIN_FORMAT_STOP);
        } else {
            b.stop(List.of());
        }
        return b.build();
    }

    /**
     * Generates the reply to a line, streaming its text to {@code out}, and records the exchange
     * (also a cancelled one, with the text it had). {@code cancelled} is polled after every chunk;
     * {@link #cancel()} ends a step sooner.
     *
     * @throws dev.llamaspec.LlamaException when the prompt does not fit or generation fails; the
     *     conversation is then unchanged
     */
    Reply reply(String user, Consumer<String> out, BooleanSupplier cancelled) {
        Objects.requireNonNull(user, "user");
        int dropped = fit(user);
        GenerationOptions options = options();
        Generation generation;
        try (TokenStream stream = mode == Mode.CHAT
                ? session.chatStream(conversation.chatMessages(contextStart, user), options)
                : session.stream(conversation.completionText(contextStart, user), options)) {
            for (TextChunk chunk : stream) {
                out.accept(chunk.text());
                if (cancelled.getAsBoolean()) {
                    break;
                }
            }
            stream.close();
            generation = stream.result();
        }
        last = generation;
        lastSpeculation = speculation;
        conversation.add(new Conversation.Exchange(user, generation.text(), generation.stopReason()));
        return new Reply(generation, dropped);
    }

    /**
     * Leaves the oldest exchanges out of the prompt until the prompt leaves room for a reply: at
     * least min(max tokens, half the context). Returns how many were left out now.
     */
    private int fit(String user) {
        int context = session.contextSize();
        int room = Math.min(sampling.maxTokens(), context / 2);
        int dropped = 0;
        while (contextStart < conversation.exchanges().size() && promptTokens(contextStart, user) > context - room) {
            contextStart++;
            dropped++;
        }
        return dropped;
    }

    /** Tokens of the prompt for {@code user} with the exchanges from {@code from} on. */
    int promptTokens(int from, String user) {
        if (mode == Mode.CHAT) {
            List<ChatMessage> messages = conversation.chatMessages(from, user);
            return model.tokenize(model.applyChatTemplate(messages, true), true, true).length;
        }
        return model.tokenize(conversation.completionText(from, user)).length;
    }

    /**
     * Saves the session (its KV cache, see {@link Session#save(Path, String)}) with the conversation
     * attached, for {@code --session FILE}.
     *
     * @throws LlamaException when the file cannot be written; an older file of that name stays as it was
     */
    void saveSession(Path file) {
        session.save(file, Json.compact(Json.savedConversation(this, contextStart)));
    }

    /** Tokens in the session's KV cache: what the next prompt may reuse. */
    int cachedTokens() {
        return session.cachedTokens().length;
    }

    /**
     * Takes back the conversation a saved session carries.
     *
     * @throws IllegalArgumentException when it is not this CLI's, or of the other mode
     */
    private void resume(String attachment) {
        Json.SavedConversation saved = Json.readConversation(attachment);
        if (saved.mode() != mode) {
            throw new IllegalArgumentException("the session was saved in " + saved.mode().label() + " mode, this run is in "
                    + mode.label() + " mode (--mode " + saved.mode().name().toLowerCase(java.util.Locale.ROOT)
                    + " resumes it)");
        }
        conversation.setSystem(saved.system());
        saved.exchanges().forEach(conversation::add);
        contextStart = saved.contextStart();
    }

    /** Ends the running reply within one step; does nothing when none runs. Safe from any thread. */
    void cancel() {
        session.cancel();
    }

    /** Forgets the conversation and the session's KV cache; the system text and settings stay. */
    void reset() {
        conversation.clear();
        contextStart = 0;
        last = null;
        lastSpeculation = null;
        session.reset();
    }

    @Override
    public void close() {
        drafters.close();
        model.close();
    }
}
