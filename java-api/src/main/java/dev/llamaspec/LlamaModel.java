package dev.llamaspec;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * A GGUF model loaded through llama.cpp. Thread-safe: several {@link Session}s may use one model at
 * the same time. Close it when done; closing also closes its open sessions (waiting for a step in
 * progress to end), and every call after {@link #close()} throws {@link IllegalStateException}.
 *
 * <pre>{@code
 * try (LlamaModel model = LlamaModel.load(Path.of("stories260K.gguf"));
 *      Session session = model.newSession()) {
 *     System.out.println(session.generate("Once upon a time", GenerationOptions.greedy()).text());
 * }
 * }</pre>
 */
public final class LlamaModel implements AutoCloseable {
    private final Path path;
    private final ModelOptions options;
    private final NativeHandle handle;
    private final Set<Session> sessions = ConcurrentHashMap.newKeySet();
    private final Set<Session> draftUsers = ConcurrentHashMap.newKeySet(); // sessions that drafted with this model
    private final java.util.Map<EmbeddingOptions, Embedder> embedders = new ConcurrentHashMap<>();
    private volatile ModelInfo info;
    private final Object chatLock = new Object();
    private ChatRenderer chat; // made at the first use, under chatLock

    private LlamaModel(Path path, ModelOptions options, long handle) {
        this.path = path;
        this.options = options;
        this.handle = new NativeHandle(handle, false, "model is closed: " + path, LlamaModel::nFree);
    }

    /** Loads a model with default options. */
    public static LlamaModel load(Path path) {
        return load(path, ModelOptions.defaults());
    }

    /**
     * Loads a model.
     *
     * @throws LlamaException with {@link ErrorCode#MODEL_LOAD} when the file is missing, not a GGUF
     *     file or not loadable, naming the path and the reason
     */
    public static LlamaModel load(Path path, ModelOptions options) {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(options, "options");
        NativeLibrary.ensureLoaded();
        Path absolute = path.toAbsolutePath();
        NamedValues settings = options.settings();
        long handle = nLoad(absolute.toString().getBytes(StandardCharsets.UTF_8), settings.names(),
                settings.values(), options.rpcServers().toArray(new String[0]));
        LlamaModel model = new LlamaModel(absolute, options, handle);
        ModelInfo info = model.info();
        if (options.gpuLayers() != 0 && !info.onGpu()) {
            LOAD_LOG.log(System.Logger.Level.INFO, "{0} runs on the CPU ({1}): no GPU is available (ggml backends: {2}), "
                    + "so gpuLayers {3} has no effect", absolute, String.join(", ", info.devices()),
                    backends().stream().filter(b -> !b.name().equals("RPC")).map(Backend::toString)
                            .collect(Collectors.joining(", ")),
                    options.gpuLayers());
        } else {
            LOAD_LOG.log(System.Logger.Level.INFO, "{0} runs on {1}", absolute, String.join(" + ", info.devices()));
        }
        return model;
    }

    /**
     * The ggml backends this process loaded, each with the number of devices it found: the CPU, a GPU
     * backend when one is present (the optional Vulkan jar adds "Vulkan"; with no GPU driver it finds 0
     * devices and models run on the CPU), and "RPC", ggml's RPC client, whose devices are the servers
     * of the models loaded with {@link ModelOptions#rpcServers()} (0 before the first).
     *
     * @throws LlamaException when the native library cannot be loaded
     */
    public static List<Backend> backends() {
        return NativeLibrary.backends();
    }

    /** Where each load says which devices the model runs on. */
    private static final System.Logger LOAD_LOG = System.getLogger("dev.llamaspec");

    public Path path() {
        return path;
    }

    public ModelOptions options() {
        return options;
    }

    /**
     * What the model is (read once, then kept).
     *
     * @throws IllegalStateException when the model is closed
     */
    public ModelInfo info() {
        // the handle's check also when the answer is kept: a closed model answers nothing
        return handle.call(h -> {
            ModelInfo result = info;
            if (result == null) {
                result = nInfo(h);
                info = result;
            }
            return result;
        });
    }

    /** Tokens of text as a prompt: with the model's BOS token, special-token text read as plain text. */
    public int[] tokenize(String text) {
        return tokenize(text, true, false);
    }

    /**
     * @param addSpecial   add BOS/EOS where the model wants them
     * @param parseSpecial read special-token text such as {@code <s>} as those tokens
     */
    public int[] tokenize(String text, boolean addSpecial, boolean parseSpecial) {
        byte[] utf8 = Objects.requireNonNull(text, "text").getBytes(StandardCharsets.UTF_8);
        return handle.call(h -> nTokenize(h, utf8, addSpecial, parseSpecial));
    }

    /**
     * Checks a grammar (llama.cpp's GBNF, rule {@code root}) against this model's vocabulary, as a
     * generation with {@link GenerationOptions.Builder#grammar(String)} would when it starts.
     *
     * @throws IllegalArgumentException with the parser's message when llama.cpp cannot use it
     */
    public void checkGrammar(String gbnf) {
        byte[] utf8 = Objects.requireNonNull(gbnf, "gbnf").getBytes(StandardCharsets.UTF_8);
        handle.run(h -> nCheckGrammar(h, utf8));
    }

    /** Text of tokens; special tokens are left out. */
    public String detokenize(int[] tokens) {
        Objects.requireNonNull(tokens, "tokens");
        return new String(handle.call(h -> nDetokenize(h, tokens, false)), StandardCharsets.UTF_8);
    }

    /**
     * The piece of one token as llama.cpp prints it. A piece may be part of a multi-byte character,
     * which then shows as U+FFFD; {@link #detokenize} joins such pieces correctly.
     */
    public String tokenToPiece(int token, boolean renderSpecial) {
        return new String(handle.call(h -> nTokenToPiece(h, token, renderSpecial)), StandardCharsets.UTF_8);
    }

    /**
     * A fingerprint of the model's identity (architecture, sizes, vocabulary and output projection):
     * Medusa heads record the fingerprint of the model they were made for, and load only for it.
     */
    public String fingerprint() {
        return handle.call(LlamaModel::nFingerprint);
    }

    /** Whether the model carries a chat template. */
    public boolean hasChatTemplate() {
        return info().chatTemplate().isPresent();
    }

    /**
     * Renders a conversation with the model's chat template, in its {@link #chatFormat()}: a template
     * llama.cpp knows is rendered by llama.cpp ({@link ChatFormat#LLAMA_CPP}); another is rendered as the Jinja
     * template it is by Jinjava, an optional dependency ({@link ChatFormat#JINJA}: {@code messages} with
     * {@code role} and {@code content}, {@code add_generation_prompt} = {@code addAssistant}, {@code bos_token}
     * and {@code eos_token}, {@code raise_exception}, {@code strftime_now}; a leading BOS text is left out when
     * the tokenizer adds BOS itself). A model without a template, and one whose template neither can render
     * ({@link #plainChatReason()}), get the plain format ({@link ChatFormat#PLAIN}): the system text, then
     * {@code "User: ..."} and {@code "Assistant: ..."} lines, and a final {@code "Assistant:"} when
     * {@code addAssistant} is set.
     *
     * @param addAssistant end with the opening of the assistant's reply
     * @throws LlamaException with {@link ErrorCode#TEMPLATE} when a Jinja template refuses the conversation (it
     *     calls {@code raise_exception}, for instance for a system message or roles that do not alternate),
     *     with the template's message
     */
    public String applyChatTemplate(List<ChatMessage> messages, boolean addAssistant) {
        Objects.requireNonNull(messages, "messages");
        for (int i = 0; i < messages.size(); i++) {
            Objects.requireNonNull(messages.get(i), "message " + i);
        }
        return chat().apply(messages, addAssistant);
    }

    /**
     * How {@link #applyChatTemplate} renders this model's conversations: chosen at the first use (Jinja
     * templates are tried on a one-message conversation then), and kept, except that a Jinja template that
     * Jinjava fails on for a later conversation makes it {@link ChatFormat#PLAIN} from then on. A model that has
     * a template and gets the plain format logs one warning ({@link System.Logger} {@code dev.llamaspec}) with
     * {@link #plainChatReason()}.
     *
     * @throws IllegalStateException when the model is closed
     */
    public ChatFormat chatFormat() {
        return chat().format();
    }

    /**
     * Why {@link #chatFormat()} is {@link ChatFormat#PLAIN}: the model has no chat template, or llama.cpp does not
     * know it and Jinjava is not on the class path, or Jinjava cannot render it (the error and its line in the
     * template). Empty when the format is not PLAIN.
     *
     * @throws IllegalStateException when the model is closed
     */
    public Optional<String> plainChatReason() {
        return chat().plainReason();
    }

    private ChatRenderer chat() {
        return handle.call(h -> {
            synchronized (chatLock) {
                if (chat == null) {
                    chat = newChatRenderer(ChatRenderer.jinjavaPresent());
                }
                return chat;
            }
        });
    }

    /** A renderer of this model's conversations; {@code jinjavaPresent} false: as if Jinjava were not there. */
    ChatRenderer newChatRenderer(boolean jinjavaPresent) {
        return new ChatRenderer(path.getFileName().toString(), info(), handle.call(LlamaModel::nChatBuiltin),
                token -> tokenToPiece(token, true), this::nativeChat, jinjavaPresent);
    }

    private String nativeChat(List<ChatMessage> messages, boolean addAssistant, boolean plain) {
        String[] roles = new String[messages.size()];
        byte[][] contents = new byte[messages.size()][];
        for (int i = 0; i < roles.length; i++) {
            roles[i] = messages.get(i).role().wireName();
            contents[i] = messages.get(i).content().getBytes(StandardCharsets.UTF_8);
        }
        return new String(handle.call(h -> nApplyChatTemplate(h, roles, contents, addAssistant, plain)),
                StandardCharsets.UTF_8);
    }

    /**
     * The embedding of one text: {@link #embed(List, EmbeddingOptions)} with the defaults.
     *
     * @throws IllegalArgumentException for an empty text
     * @throws LlamaException ({@link ErrorCode#CONTEXT_OVERFLOW}) for a text longer than 512 tokens
     */
    public float[] embed(String text) {
        return embed(List.of(Objects.requireNonNull(text, "text")), EmbeddingOptions.defaults()).get(0);
    }

    /** The embeddings of texts, with the defaults (the model's pooling, normalised). */
    public List<float[]> embed(List<String> texts) {
        return embed(texts, EmbeddingOptions.defaults());
    }

    /**
     * The embeddings of texts, one vector each ({@link ModelInfo#embeddingSize()} floats), evaluated in
     * batches in an embedding context of this model kept per options (apart from the sessions'
     * contexts). Texts are tokenized with the model's special tokens (BOS) and pooled as the options say.
     * Thread-safe: calls with the same options run one at a time.
     *
     * @throws IllegalArgumentException for an empty list or an empty text (naming its index)
     * @throws LlamaException ({@link ErrorCode#CONTEXT_OVERFLOW}) for a text longer than
     *     {@link EmbeddingOptions#contextSize()}, naming its index
     */
    public List<float[]> embed(List<String> texts, EmbeddingOptions options) {
        Objects.requireNonNull(texts, "texts");
        Objects.requireNonNull(options, "options");
        if (texts.isEmpty()) {
            throw new IllegalArgumentException("no texts to embed");
        }
        int[][] tokens = new int[texts.size()][];
        for (int i = 0; i < tokens.length; i++) {
            String text = texts.get(i);
            if (text == null || text.isEmpty()) {
                throw new IllegalArgumentException("text " + i + " is " + (text == null ? "null" : "empty"));
            }
            tokens[i] = tokenize(text, true, false);
        }
        return handle.call(h -> embedders.computeIfAbsent(options, o -> new Embedder(h, o)).embed(tokens,
                options.normalize()));
    }

    /**
     * The pooling {@link #embed(List, EmbeddingOptions)} applies with these options: the model's own
     * resolved ({@link EmbeddingOptions.Pooling#MODEL} becomes the model's, mean when it has none).
     */
    public EmbeddingOptions.Pooling embeddingPooling(EmbeddingOptions options) {
        Objects.requireNonNull(options, "options");
        return handle.call(h -> embedders.computeIfAbsent(options, o -> new Embedder(h, o)).pooling());
    }

    /** A session with the model's default context size and threads. */
    public Session newSession() {
        return newSession(SessionOptions.defaults());
    }

    public Session newSession(SessionOptions options) {
        Objects.requireNonNull(options, "options");
        NamedValues settings = options.settings();
        return handle.call(h -> {
            long session = Session.nInit(h, settings.names(), settings.values());
            Session s = new Session(this, session);
            sessions.add(s);
            return s;
        });
    }

    /** {@link #restoreSession(Path, SessionOptions)} into a session with the default options. */
    public Session restoreSession(Path file) {
        return restoreSession(file, SessionOptions.defaults());
    }

    /**
     * A new session holding what {@link Session#save(Path)} wrote to {@code file}: its tokens are in
     * the KV cache again, so a prompt that extends them evaluates only its new tokens
     * ({@link GenerationStats#reusedPromptTokens()} counts the saved ones), Token Recycling goes on
     * with what it learnt, and {@link Session#attachment()} returns what was attached. The options
     * must give a context large enough for the saved tokens and the same kinds of keys and values
     * (the same {@link SessionOptions.Builder#strictNumerics strict numerics}) as the saved session's.
     *
     * @throws LlamaException with {@link ErrorCode#SESSION_FILE} naming the problem: a missing or
     *         unreadable file, not a session file, one of a newer format version, a truncated or damaged
     *         file, a session of another model (or of other weights with this model's vocabulary), keys
     *         and values of another kind; with {@link ErrorCode#CONTEXT_OVERFLOW} when the saved tokens
     *         do not fit the context
     */
    public Session restoreSession(Path file, SessionOptions options) {
        Objects.requireNonNull(file, "file");
        Session session = newSession(options);
        try {
            session.restore(file);
        } catch (RuntimeException | Error e) {
            session.close();
            throw e;
        }
        return session;
    }

    void forget(Session session) {
        sessions.remove(session);
    }

    /**
     * Checks that {@code draft} can serve as this model's draft model ({@link Speculation#draftModel}):
     * the same vocabulary type, BOS/EOS tokens, vocabulary sizes within 128 tokens and the same text for
     * every token id both have.
     *
     * @throws LlamaException with {@link ErrorCode#INVALID_ARGUMENT} naming the first difference
     * @throws IllegalStateException when either model is closed
     */
    public void checkDraftModel(LlamaModel draft) {
        Objects.requireNonNull(draft, "draft");
        handle.run(h -> draft.handle.run(d -> nCheckDraft(h, d)));
    }

    void addDraftUser(Session session) {
        draftUsers.add(session);
    }

    void forgetDraftUser(Session session) {
        draftUsers.remove(session);
    }

    /**
     * Frees the model after closing its open sessions. Sessions of other models that use it as their
     * draft model free their context on it (waiting for a step in progress); a generation using it then
     * fails at its next step with a {@link LlamaException} ({@link ErrorCode#STATE}). Idempotent.
     */
    @Override
    public void close() {
        for (Session s : new ArrayList<>(sessions)) {
            s.close();
        }
        handle.free(h -> {
            // sessions opened while we were closing the others
            for (Session s : new ArrayList<>(sessions)) {
                s.close();
            }
            for (Embedder e : embedders.values()) {
                e.close();
            }
            embedders.clear();
            for (Session s : new ArrayList<>(draftUsers)) {
                s.dropDraftModel(this, h);
            }
            draftUsers.clear();
        });
    }

    public boolean isClosed() {
        return handle.isFreed();
    }

    /**
     * Why the model cannot be used any more, or empty while it can: one of its RPC servers
     * ({@link ModelOptions#rpcServers()}) went away, and every call on it since fails at once with a
     * {@link LlamaException} ({@link ErrorCode#RPC}). Load the model again (its memory stays with the
     * process: freeing it would talk to the lost server). Always empty for a local model.
     *
     * @throws IllegalStateException when the model is closed
     */
    public java.util.Optional<String> failure() {
        return java.util.Optional.ofNullable(handle.call(LlamaModel::nFailure));
    }

    /** The RPC servers the model's layers are split over (empty for a local model). */
    public List<String> rpcServers() {
        return options.rpcServers();
    }

    /**
     * The native handle, for the classes that call the engine with this model (sessions using it as their
     * draft model, Medusa heads, the trainer and the importer): its calls hold the model open.
     */
    NativeHandle nativeHandle() {
        return handle;
    }

    @Override
    public String toString() {
        return "LlamaModel{" + path + (isClosed() ? ", closed" : "") + "}";
    }

    /** Loads a model with the named settings of the engine's model table (the others keep their defaults). */
    static native long nLoad(byte[] path, String[] names, double[] values, String[] rpcServers);

    static native String nFailure(long handle);

    static native void nFree(long handle);

    static native ModelInfo nInfo(long handle);

    static native String nFingerprint(long handle);

    static native void nCheckDraft(long handle, long draft);

    static native void nCheckGrammar(long handle, byte[] gbnf);

    static native int[] nTokenize(long handle, byte[] text, boolean addSpecial, boolean parseSpecial);

    static native byte[] nDetokenize(long handle, int[] tokens, boolean renderSpecial);

    static native byte[] nTokenToPiece(long handle, int token, boolean renderSpecial);

    static native boolean nChatBuiltin(long handle);

    /** {@code plain}: the plain format whatever the model's template. */
    static native byte[] nApplyChatTemplate(long handle, String[] roles, byte[][] contents, boolean addAssistant,
            boolean plain);
}
