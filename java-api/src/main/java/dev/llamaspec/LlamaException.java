package dev.llamaspec;

/**
 * A failure reported by the native engine or by loading the native library. The message names the
 * problem (the path that was not found, the limit that was exceeded); {@link #code()} classifies it.
 */
public final class LlamaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final ErrorCode code;

    public LlamaException(ErrorCode code, String message) {
        super(message);
        this.code = code;
    }

    public LlamaException(ErrorCode code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    /** Called from JNI with the engine's status code. */
    static LlamaException fromNative(int status, String message) {
        return new LlamaException(ErrorCode.fromNative(status), message);
    }

    public ErrorCode code() {
        return code;
    }
}
