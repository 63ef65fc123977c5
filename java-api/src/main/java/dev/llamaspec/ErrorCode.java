package dev.llamaspec;

/** What kind of native failure a {@link LlamaException} reports. */
public enum ErrorCode {
    /** An option or argument is out of range. */
    INVALID_ARGUMENT,
    /** The model file is missing, is not a GGUF file, or llama.cpp refused it. */
    MODEL_LOAD,
    /** llama.cpp could not create a context (not enough memory, unsupported parameters). */
    CONTEXT_INIT,
    /** The prompt does not fit in the session's context. */
    CONTEXT_OVERFLOW,
    /** Evaluating tokens failed inside llama.cpp. */
    DECODE,
    /** The model's chat template refused a conversation (a Jinja template's {@code raise_exception}). */
    TEMPLATE,
    /** Text could not be tokenized or detokenized. */
    TOKENIZE,
    /** A call came out of order. */
    STATE,
    /**
     * A saved session could not be written, or could not be restored: a missing or unreadable file, not
     * a session file, a newer format version, a truncated or damaged file, another model, or a KV cache
     * that does not fit the session's options.
     */
    SESSION_FILE,
    /**
     * An RPC server of the model ({@link ModelOptions.Builder#rpcServers}) cannot be reached, does not
     * speak ggml's RPC protocol, or went away (closed its connection, or did not answer within
     * {@link ModelOptions#rpcTimeout()}). After a server went away the model cannot be used any more
     * ({@link LlamaModel#failure()}): load it again.
     */
    RPC,
    /** The native library could not be found or loaded. */
    NATIVE_LIBRARY,
    /** An unexpected failure inside the native code (out of memory, a bug). */
    INTERNAL;

    /** Maps the engine's status code ({@code sd_status}) to a code. */
    static ErrorCode fromNative(int status) {
        switch (status) {
            case 1: return INVALID_ARGUMENT;
            case 2: return MODEL_LOAD;
            case 3: return CONTEXT_INIT;
            case 4: return CONTEXT_OVERFLOW;
            case 5: return DECODE;
            case 6: return TEMPLATE;
            case 7: return TOKENIZE;
            case 8: return STATE;
            case 9: return SESSION_FILE;
            case 10: return RPC;
            default: return INTERNAL;
        }
    }
}
