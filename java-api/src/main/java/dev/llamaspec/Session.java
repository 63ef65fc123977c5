package dev.llamaspec;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One context of a {@link LlamaModel}: its KV cache and one generation at a time.
 *
 * <p>Each call's prompt is the whole text to continue. The session keeps its KV cache between calls
 * and evaluates only the tokens after the longest prefix it already holds, so a follow-up prompt
 * that extends the previous prompt and answer costs only its new tokens.
 *
 * <p>A session runs one generation at a time: starting a second while one runs (from another thread,
 * or while a {@link TokenStream} is open) throws {@link IllegalStateException}. Use one session per
 * concurrent conversation. {@link #cancel()} and {@link #close()} may be called from any thread;
 * a running generation then ends within one step.
 */
public final class Session implements AutoCloseable {
    private final LlamaModel model;
    private final NativeHandle handle; // serialised: one native call at a time; cancel() beside them
    private final AtomicBoolean busy = new AtomicBoolean();
    private final Set<LlamaModel> draftModels = ConcurrentHashMap.newKeySet(); // used as draft models
    private volatile String attachment; // of the file it was restored from

    Session(LlamaModel model, long handle) {
        this.model = model;
        this.handle = new NativeHandle(handle, true, "session is closed", Session::nFree);
    }

    public LlamaModel model() {
        return model;
    }

    /** The context size in tokens (llama.cpp may have rounded the requested size up). */
    public int contextSize() {
        return handle.call(Session::nContextSize);
    }

    /**
     * The threads this session's last model evaluation ran on; readable while a generation runs.
     * With automatic threads (none given in {@link SessionOptions} or {@link ModelOptions}) it
     * changes as sessions start and stop and as other programs load the cores.
     *
     * @throws IllegalStateException when the session is closed
     */
    public int threads() {
        int[] threads = {-1};
        handle.interrupt(h -> threads[0] = nThreads(h));
        if (threads[0] < 0) {
            throw new IllegalStateException("session is closed");
        }
        return threads[0];
    }

    /**
     * Sessions of this process (of any model) evaluating their model now or within the last 50 ms:
     * automatic threads are divided among them.
     */
    public static int decodingNow() {
        NativeLibrary.ensureLoaded();
        return nDecoding();
    }

    /** Generates with the default options (llama.cpp's sampling defaults, 256 tokens at most). */
    public Generation generate(String prompt) {
        return generate(prompt, GenerationOptions.defaults());
    }

    /**
     * Continues {@code prompt} and returns when the generation ends.
     *
     * @throws LlamaException with {@link ErrorCode#CONTEXT_OVERFLOW} when the prompt does not fit
     * @throws IllegalStateException when the session is closed or already generating
     */
    public Generation generate(String prompt, GenerationOptions options) {
        return generate(model.tokenize(Objects.requireNonNull(prompt, "prompt")), options);
    }

    /** Continues a prompt given as tokens. */
    public Generation generate(int[] promptTokens, GenerationOptions options) {
        GenerationRun run = start(promptTokens, options);
        while (run.next() != null) {
            // the run collects the text
        }
        return run.result();
    }

    /**
     * Generates step by step as an {@link Iterable} of chunks. Closing the stream before the end
     * cancels the generation; the session is busy until the stream ends or is closed.
     */
    public TokenStream stream(String prompt, GenerationOptions options) {
        return new TokenStream(start(model.tokenize(Objects.requireNonNull(prompt, "prompt")), options));
    }

    /**
     * Generates on the calling thread and reports to the handler: {@code onToken} for each step,
     * then {@code onComplete} or {@code onError}. Failures go to {@code onError}, not to the caller,
     * except the immediate {@link IllegalStateException} of a closed or busy session.
     */
    public void generate(String prompt, GenerationOptions options, GenerationHandler handler) {
        Objects.requireNonNull(handler, "handler");
        GenerationRun run;
        try {
            run = start(model.tokenize(Objects.requireNonNull(prompt, "prompt")), options);
        } catch (IllegalStateException e) {
            throw e;
        } catch (RuntimeException e) {
            handler.onError(e);
            return;
        }
        drive(run, handler);
    }

    /**
     * Generates on a new daemon thread, reporting to the handler; the future completes with the
     * result (or the failure) after the handler's {@code onComplete} (or {@code onError}).
     * Cancel with {@link #cancel()}.
     */
    public CompletableFuture<Generation> generateAsync(String prompt, GenerationOptions options,
            GenerationHandler handler) {
        Objects.requireNonNull(handler, "handler");
        GenerationRun run = start(model.tokenize(Objects.requireNonNull(prompt, "prompt")), options);
        CompletableFuture<Generation> future = new CompletableFuture<>();
        Thread thread = new Thread(() -> {
            Generation result = drive(run, handler);
            if (result != null) {
                future.complete(result);
            } else {
                future.completeExceptionally(run.failure());
            }
        }, "llamaspec-generate");
        thread.setDaemon(true);
        thread.start();
        return future;
    }

    /**
     * Renders the conversation with the model's chat template ({@link LlamaModel#applyChatTemplate}, with the
     * opening of the assistant's reply) and generates the reply.
     *
     * @throws LlamaException with {@link ErrorCode#TEMPLATE} when the model's Jinja template refuses the
     *     conversation, with the template's message
     */
    public Generation chat(List<ChatMessage> messages, GenerationOptions options) {
        return generate(chatTokens(messages), options);
    }

    /** {@link #chat} as a stream. */
    public TokenStream chatStream(List<ChatMessage> messages, GenerationOptions options) {
        return new TokenStream(start(chatTokens(messages), options));
    }

    private int[] chatTokens(List<ChatMessage> messages) {
        return model.tokenize(model.applyChatTemplate(messages, true), true, true);
    }

    /**
     * Asks the running generation to stop; it ends within one step with {@link StopReason#CANCELLED}
     * and the session stays usable. Does nothing when no generation runs. Safe from any thread.
     */
    public void cancel() {
        handle.interrupt(h -> {
            if (busy.get()) {
                nCancel(h);
            }
        });
    }

    /** Forgets the KV cache, so the next prompt is evaluated from the start. */
    public void reset() {
        exclusive("reset()", () -> handle.run(Session::nReset));
    }

    /** {@link #save(Path, String)} without an attachment. */
    public void save(Path file) {
        save(file, null);
    }

    /**
     * Writes the session to {@code file}: the tokens in its KV cache, the cache itself, Token
     * Recycling's learnt matrix when the session has used it, the model's identity, and {@code
     * attachment} (text of the application's, its conversation say, or null), so that
     * {@link LlamaModel#restoreSession(Path, SessionOptions)} resumes it without evaluating those tokens
     * again. The file is written under a temporary name beside {@code file}, flushed to the disk and
     * then renamed: a crash or a full disk during the save never leaves a partial file under that name,
     * and a failed save leaves the previous file as it was. The file holds the KV cache's bytes (about
     * {@code 2 x layers x KV width x 2 bytes} per token with F16 keys and values) and is valid only for
     * this model and for sessions with the same kinds of keys and values.
     *
     * @throws LlamaException with {@link ErrorCode#SESSION_FILE} when the file cannot be written (the
     *         message says why: a missing folder, no space left, ...)
     * @throws IllegalStateException when the session is closed or generating
     */
    public void save(Path file, String attachment) {
        Objects.requireNonNull(file, "file");
        byte[] path = file.toString().getBytes(StandardCharsets.UTF_8);
        byte[] attached = attachment == null ? null : attachment.getBytes(StandardCharsets.UTF_8);
        exclusive("save()", () -> handle.run(h -> nSave(h, path, attached)));
    }

    /**
     * The text attached to the file this session was restored from ({@link #save(Path, String)}); empty
     * for a session that was not restored, or restored from a file without one.
     */
    public Optional<String> attachment() {
        return Optional.ofNullable(attachment);
    }

    /**
     * The tokens whose keys and values are in the KV cache, in order (the prefix the next prompt may reuse).
     *
     * @throws IllegalStateException when the session is closed or generating
     */
    public int[] cachedTokens() {
        int[][] out = new int[1][];
        exclusive("cachedTokens()", () -> out[0] = handle.call(Session::nCachedTokens));
        return out[0];
    }

    /** Restores a saved session; called once, by {@link LlamaModel#restoreSession}. */
    void restore(Path file) {
        byte[] path = file.toString().getBytes(StandardCharsets.UTF_8);
        exclusive("restore", () -> {
            byte[] attached = handle.call(h -> nRestore(h, path));
            attachment = attached.length == 0 ? null : new String(attached, StandardCharsets.UTF_8);
        });
    }

    /** Runs {@code action} while no generation may start; fails when one runs. */
    private void exclusive(String what, Runnable action) {
        if (!busy.compareAndSet(false, true)) {
            throw new IllegalStateException("session is generating; cancel it or wait before " + what);
        }
        try {
            action.run();
        } finally {
            busy.set(false);
        }
    }

    /** Whether a generation is running (or a stream is open). */
    public boolean isGenerating() {
        return busy.get();
    }

    public boolean isClosed() {
        return handle.isClosing();
    }

    /**
     * Frees the context. A generation running on another thread is cancelled and this call waits
     * for its current step to end; that generation then ends with an {@link IllegalStateException}.
     * Idempotent.
     */
    @Override
    public void close() {
        if (!handle.beginClose(Session::nCancel)) {
            return;
        }
        handle.free(null); // after the running step
        model.forget(this);
        for (LlamaModel draft : draftModels) {
            draft.forgetDraftUser(this);
        }
    }

    /**
     * Frees the context this session keeps on {@code draft} (whose handle is {@code draftHandle}); called by
     * the draft model's close(), which holds it open meanwhile. Waits for a step in progress; a generation
     * using the draft model then fails at its next step.
     */
    void dropDraftModel(LlamaModel draft, long draftHandle) {
        handle.ifOpen(h -> nDropDraftModel(h, draftHandle));
        draftModels.remove(draft);
    }

    @Override
    public String toString() {
        return "Session{" + (isClosed() ? "closed" : busy.get() ? "generating" : "idle") + "}";
    }

    // --- the one generation loop behind generate, stream and handlers ---

    private GenerationRun start(int[] promptTokens, GenerationOptions options) {
        Objects.requireNonNull(promptTokens, "promptTokens");
        Objects.requireNonNull(options, "options");
        if (handle.isClosing()) {
            throw new IllegalStateException("session is closed");
        }
        if (!busy.compareAndSet(false, true)) {
            throw new IllegalStateException(
                    "session is already generating; use one Session per concurrent generation");
        }
        try {
            byte[][] stop = new byte[options.stop().size()][];
            for (int i = 0; i < stop.length; i++) {
                stop[i] = options.stop().get(i).getBytes(StandardCharsets.UTF_8);
            }
            byte[] grammar = options.grammar().map(g -> g.getBytes(StandardCharsets.UTF_8)).orElse(null);
            Speculation spec = options.speculation();
            NamedValues settings = options.settings();
            spec.settings(settings);
            String[] names = settings.names();
            double[] values = settings.values();
            MedusaHeads heads = spec instanceof Speculation.Medusa medusa ? medusa.heads() : null;
            if (heads != null && heads.model() != model) {
                throw new IllegalArgumentException("the Medusa heads were loaded for another model ("
                        + heads.model().path() + "), this session's model is " + model.path());
            }
            if (!(spec instanceof Speculation.DraftModel draftSpec)) {
                begin(promptTokens, stop, spec, names, values, heads, 0L, grammar);
                return new GenerationRun(this);
            }
            // The draft model's lock before the session's (its close() takes them in that order too): it
            // cannot be freed while the session starts using it, and its close() then finds the session.
            LlamaModel draft = draftSpec.draftModel();
            draft.nativeHandle().run("the draft model is closed: " + draft.path(), d -> {
                draftModels.add(draft);
                draft.addDraftUser(this);
                begin(promptTokens, stop, spec, names, values, heads, d, grammar);
            });
            return new GenerationRun(this);
        } catch (RuntimeException | Error e) {
            busy.set(false);
            throw e;
        }
    }

    /**
     * nBegin under the session's lock, with the Medusa heads held open for the call (they may be closed
     * concurrently).
     */
    private void begin(int[] promptTokens, byte[][] stop, Speculation spec, String[] names, double[] values,
            MedusaHeads heads, long draft, byte[] grammar) {
        // a corpus index, like the heads, is held open for the call only: the engine keeps what it needs
        CorpusIndex corpus = spec instanceof Speculation.PromptLookup lookup ? lookup.corpus() : null;
        if (corpus != null && corpus.model() != model) {
            throw new IllegalArgumentException("the corpus index was loaded for another model ("
                    + corpus.model().path() + "), this session's model is " + model.path());
        }
        handle.run(h -> {
            if (heads != null) {
                heads.nativeHandle().run(m -> nBegin(h, promptTokens, stop, spec.name(), names, values, m, draft, 0L,
                        grammar));
            } else if (corpus != null) {
                corpus.nativeHandle().run(c -> nBegin(h, promptTokens, stop, spec.name(), names, values, 0L, draft, c,
                        grammar));
            } else {
                nBegin(h, promptTokens, stop, spec.name(), names, values, 0L, draft, 0L, grammar);
            }
        });
    }

    /** One native step; called by {@link GenerationRun} only. */
    StepResult step() {
        return handle.call(Session::nStep);
    }

    GenerationStats stats() {
        return handle.call(Session::nStats);
    }

    void release() {
        busy.set(false);
    }

    private Generation drive(GenerationRun run, GenerationHandler handler) {
        try {
            TextChunk chunk;
            while ((chunk = run.next()) != null) {
                handler.onToken(chunk);
            }
        } catch (RuntimeException | Error e) {
            run.abort(e); // a failing handler: end the generation (a no-op when the engine failed)
            handler.onError(e);
            return null;
        }
        Generation result = run.result();
        handler.onComplete(result);
        return result;
    }

    /** A session of {@code model} with the named settings of the engine's session table. */
    static native long nInit(long model, String[] names, double[] values);

    static native void nFree(long handle);

    static native int nContextSize(long handle);

    static native int nThreads(long handle);

    static native int nDecoding();

    static native void nReset(long handle);

    static native void nCancel(long handle);

    /**
     * Begins a generation: {@code speculationType} is the engine's name of the type ({@link Speculation#name()}),
     * {@code names}/{@code values} settings of the engine's generation table (the others keep their
     * defaults), {@code heads}, {@code draftModel} and {@code corpus} handles or 0.
     */
    static native void nBegin(long handle, int[] prompt, byte[][] stop, String speculationType, String[] names,
            double[] values, long heads, long draftModel, long corpus, byte[] grammar);

    static native void nDropDraftModel(long handle, long draftModel);

    static native StepResult nStep(long handle);

    static native int[] nCachedTokens(long handle);

    static native void nSave(long handle, byte[] path, byte[] attachment);

    /** Restores into the session and returns the attachment (empty when none). */
    static native byte[] nRestore(long handle, byte[] path);

    /** The statistics of the current or last generation, by the engine's names. */
    static native GenerationStats nStats(long handle);
}
