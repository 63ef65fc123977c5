package dev.llamaspec;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

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
    private final ReentrantLock nativeLock = new ReentrantLock();
    private final Object handleGuard = new Object();
    private final AtomicBoolean busy = new AtomicBoolean();
    private final Set<LlamaModel> draftModels = ConcurrentHashMap.newKeySet(); // used as draft models
    private volatile boolean closed;
    private long handle;

    Session(LlamaModel model, long handle) {
        this.model = model;
        this.handle = handle;
    }

    public LlamaModel model() {
        return model;
    }

    /** The context size in tokens (llama.cpp may have rounded the requested size up). */
    public int contextSize() {
        return callNative(() -> nContextSize(handle));
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

    /** Renders the conversation with the model's chat template and generates the assistant's reply. */
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
        synchronized (handleGuard) {
            if (handle != 0 && busy.get()) {
                nCancel(handle);
            }
        }
    }

    /** Forgets the KV cache, so the next prompt is evaluated from the start. */
    public void reset() {
        if (!busy.compareAndSet(false, true)) {
            throw new IllegalStateException("session is generating; cancel it or wait before reset()");
        }
        try {
            callNative(() -> {
                nReset(handle);
                return null;
            });
        } finally {
            busy.set(false);
        }
    }

    /** Whether a generation is running (or a stream is open). */
    public boolean isGenerating() {
        return busy.get();
    }

    public boolean isClosed() {
        return closed;
    }

    /**
     * Frees the context. A generation running on another thread is cancelled and this call waits
     * for its current step to end; that generation then ends with an {@link IllegalStateException}.
     * Idempotent.
     */
    @Override
    public void close() {
        synchronized (handleGuard) {
            if (closed) {
                return;
            }
            closed = true;
            if (handle != 0) {
                nCancel(handle);
            }
        }
        nativeLock.lock();
        try {
            synchronized (handleGuard) {
                if (handle != 0) {
                    nFree(handle);
                    handle = 0;
                }
            }
        } finally {
            nativeLock.unlock();
        }
        model.forget(this);
        for (LlamaModel draft : draftModels) {
            draft.forgetDraftUser(this);
        }
    }

    /**
     * Frees the context this session keeps on {@code draft}; called by the draft model's close(), which
     * holds its write lock. Waits for a step in progress; a generation using the draft model then fails
     * at its next step.
     */
    void dropDraftModel(LlamaModel draft) {
        nativeLock.lock();
        try {
            synchronized (handleGuard) {
                if (handle != 0) {
                    nDropDraftModel(handle, draft.handle());
                }
            }
        } finally {
            nativeLock.unlock();
        }
        draftModels.remove(draft);
    }

    @Override
    public String toString() {
        return "Session{" + (closed ? "closed" : busy.get() ? "generating" : "idle") + "}";
    }

    // --- the one generation loop behind generate, stream and handlers ---

    private GenerationRun start(int[] promptTokens, GenerationOptions options) {
        Objects.requireNonNull(promptTokens, "promptTokens");
        Objects.requireNonNull(options, "options");
        if (closed) {
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
            Speculation spec = options.speculation();
            int[] speculation = {spec.kind().code(), spec.maxDraftTokens(), spec.maxDepth(), spec.budget() ? 1 : 0,
                spec.minNgram(), spec.maxNgram(), spec.maxBranches(), spec.recyclingK(), spec.windowWidth(),
                spec.ngramSize(), spec.maxCandidates(), spec.staticTree() ? 1 : 0, spec.candidatesPerHead(),
                spec.typicalAcceptance() ? 1 : 0};
            float[] acceptance = {spec.typicalThreshold(), spec.typicalAlpha()};
            MedusaHeads heads = spec.heads();
            if (heads != null && heads.model() != model) {
                throw new IllegalArgumentException("the Medusa heads were loaded for another model ("
                        + heads.model().path() + "), this session's model is " + model.path());
            }
            LlamaModel draft = spec.draftModel();
            if (draft == null) {
                callNative(() -> begin(promptTokens, options, stop, speculation, acceptance, heads, 0L, 0f, 0f));
                return new GenerationRun(this);
            }
            // The draft model's lock before the session's (its close() takes them in that order too): it
            // cannot be freed while the session starts using it, and its close() then finds the session.
            draft.readLock().lock();
            try {
                if (draft.handle() == 0) {
                    throw new IllegalStateException("the draft model is closed: " + draft.path());
                }
                draftModels.add(draft);
                draft.addDraftUser(this);
                callNative(() -> begin(promptTokens, options, stop, speculation, acceptance, heads, draft.handle(),
                        spec.draftMinProbability(), spec.draftBranchProbability()));
            } finally {
                draft.readLock().unlock();
            }
            return new GenerationRun(this);
        } catch (RuntimeException | Error e) {
            busy.set(false);
            throw e;
        }
    }

    /** nBegin with the Medusa heads' handle held open for the call (they may be closed concurrently). */
    private Void begin(int[] promptTokens, GenerationOptions options, byte[][] stop, int[] speculation,
            float[] acceptance, MedusaHeads heads, long draft, float draftMinProbability, float draftBranchProbability) {
        if (heads == null) {
            nBegin(handle, promptTokens, options.maxTokens(), stop, options.temperature(), options.topK(),
                    options.topP(), options.minP(), options.repeatPenalty(), options.repeatLastN(), options.seed(),
                    speculation, acceptance, 0L, draft, draftMinProbability, draftBranchProbability);
            return null;
        }
        return heads.withHandle(h -> {
            nBegin(handle, promptTokens, options.maxTokens(), stop, options.temperature(), options.topK(),
                    options.topP(), options.minP(), options.repeatPenalty(), options.repeatLastN(), options.seed(),
                    speculation, acceptance, h, draft, draftMinProbability, draftBranchProbability);
            return null;
        });
    }

    /** One native step; called by {@link GenerationRun} only. */
    StepResult step() {
        return callNative(() -> nStep(handle));
    }

    GenerationStats stats() {
        return callNative(() -> GenerationStats.fromNative(nStats(handle)));
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

    private interface NativeCall<T> {
        T call();
    }

    private <T> T callNative(NativeCall<T> call) {
        nativeLock.lock();
        try {
            if (handle == 0) {
                throw new IllegalStateException("session is closed");
            }
            return call.call();
        } finally {
            nativeLock.unlock();
        }
    }

    static native long nInit(long model, int contextSize, int batchSize, int threads, boolean flashAttention,
            boolean kvCacheF32);

    private static native void nFree(long handle);

    private static native int nContextSize(long handle);

    private static native void nReset(long handle);

    private static native void nCancel(long handle);

    private static native void nBegin(long handle, int[] prompt, int maxTokens, byte[][] stop, float temperature,
            int topK, float topP, float minP, float repeatPenalty, int repeatLastN, long seed, int[] speculation,
            float[] acceptance, long heads, long draftModel, float draftMinProbability, float draftBranchProbability);

    private static native void nDropDraftModel(long handle, long draftModel);

    private static native StepResult nStep(long handle);

    private static native long[] nStats(long handle);
}
