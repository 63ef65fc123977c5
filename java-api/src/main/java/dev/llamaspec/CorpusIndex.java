package dev.llamaspec;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * A corpus index for prompt lookup (REST / Infini-gram style): a text the user supplies (documentation,
 * a code base) tokenized with a model's vocabulary, with a suffix array over its tokens, in one file
 * that is memory-mapped when loaded. With {@link Speculation.PromptLookup#corpus(CorpusIndex)}, prompt
 * lookup also proposes what followed the longest matching suffix of the text in the corpus.
 *
 * <p>{@link #build} writes the file once (a temporary file renamed over the target, so a failure leaves
 * any old index); {@link #load} checks it (format, checksum, and the model's vocabulary). A session that
 * began a generation with the index keeps what it needs, so closing the index never disturbs a running
 * generation. Thread-safe.
 */
public final class CorpusIndex implements AutoCloseable {
    /**
     * What {@link #build} wrote.
     *
     * @param index     the index file
     * @param tokens    the corpus's tokens
     * @param fileBytes the index file's size
     * @param buildTime how long tokenizing and sorting took
     */
    public record Built(Path index, long tokens, long fileBytes, Duration buildTime) {}

    private final LlamaModel model;
    private final Path path;
    private final long tokens;
    private final long fileBytes;
    private final NativeHandle handle;

    private CorpusIndex(LlamaModel model, Path path, long handle, long[] info) {
        this.model = model;
        this.path = path;
        this.tokens = info[0];
        this.fileBytes = info[1];
        this.handle = new NativeHandle(handle, false, "the corpus index is closed: " + path, CorpusIndex::nFree);
    }

    /**
     * Builds the index of the text file {@code text} for {@code model}'s vocabulary into {@code index}.
     *
     * @throws LlamaException ({@link ErrorCode#INVALID_ARGUMENT}) when the text cannot be read or has
     *     fewer than 2 tokens, or the index cannot be written, naming the file
     * @throws IllegalStateException when the model is closed
     */
    public static Built build(LlamaModel model, Path text, Path index) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(text, "text");
        Objects.requireNonNull(index, "index");
        Path out = index.toAbsolutePath();
        byte[] textUtf8 = text.toAbsolutePath().toString().getBytes(StandardCharsets.UTF_8);
        byte[] outUtf8 = out.toString().getBytes(StandardCharsets.UTF_8);
        double[] built = model.nativeHandle().call(m -> nBuild(m, textUtf8, outUtf8));
        return new Built(out, (long) built[0], (long) built[1], Duration.ofNanos((long) (built[2] * 1e9)));
    }

    /**
     * Maps an index for {@code model}.
     *
     * @throws LlamaException ({@link ErrorCode#INVALID_ARGUMENT}) when the file is missing, not a corpus
     *     index, truncated, damaged, of a newer format, or built for another vocabulary
     * @throws IllegalStateException when the model is closed
     */
    public static CorpusIndex load(Path index, LlamaModel model) {
        Objects.requireNonNull(index, "index");
        Objects.requireNonNull(model, "model");
        Path absolute = index.toAbsolutePath();
        byte[] utf8 = absolute.toString().getBytes(StandardCharsets.UTF_8);
        return model.nativeHandle().call(m -> NativeHandle.adopt(nLoad(m, utf8),
                handle -> new CorpusIndex(model, absolute, handle, nInfo(handle)), CorpusIndex::nFree));
    }

    /** The model the index was loaded for. */
    public LlamaModel model() {
        return model;
    }

    /** The index file. */
    public Path path() {
        return path;
    }

    /** The corpus's tokens. */
    public long tokens() {
        return tokens;
    }

    /** The index file's size in bytes. */
    public long fileBytes() {
        return fileBytes;
    }

    /** Unmaps the index (once the generations that use it have ended). Idempotent. */
    @Override
    public void close() {
        handle.free(h -> { });
    }

    public boolean isClosed() {
        return handle.isFreed();
    }

    NativeHandle nativeHandle() {
        return handle;
    }

    @Override
    public String toString() {
        return "CorpusIndex{" + path + ", " + tokens + " tokens" + (isClosed() ? ", closed" : "") + "}";
    }

    /** [tokens, file bytes, seconds]. */
    static native double[] nBuild(long model, byte[] text, byte[] index);

    static native long nLoad(long model, byte[] path);

    /** [tokens, file bytes]. */
    static native long[] nInfo(long handle);

    static native void nFree(long handle);
}
