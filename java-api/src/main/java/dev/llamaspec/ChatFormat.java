package dev.llamaspec;

/** How {@link LlamaModel#applyChatTemplate} renders a model's conversations ({@link LlamaModel#chatFormat()}). */
public enum ChatFormat {
    /**
     * The model's chat template is one of the formats llama.cpp knows, and llama.cpp renders it
     * ({@code llama_chat_apply_template}).
     */
    LLAMA_CPP,
    /**
     * llama.cpp does not know the model's chat template; it is rendered as the Jinja template it is, by
     * Jinjava ({@code com.hubspot.jinjava:jinjava}, an optional dependency that must be on the class path).
     */
    JINJA,
    /**
     * The plain format: the system text, then {@code "User: ..."} and {@code "Assistant: ..."} lines, and a
     * final {@code "Assistant:"}. For a model without a chat template, and for one whose template neither
     * llama.cpp nor Jinjava can render ({@link LlamaModel#plainChatReason()} says why).
     */
    PLAIN
}
