package dev.llamaspec.examples.chat;

import java.util.Locale;

/** How the user's lines become prompts. */
enum Mode {
    /** A conversation rendered with the model's chat template (or the library's plain User:/Assistant: format). */
    CHAT,
    /** The running text: each line is appended to what came before and the model continues it. */
    COMPLETION,
    /** CHAT when the model carries a chat template, COMPLETION otherwise. */
    AUTO;

    /** AUTO resolved for a model. */
    Mode resolve(boolean hasChatTemplate) {
        if (this != AUTO) {
            return this;
        }
        return hasChatTemplate ? CHAT : COMPLETION;
    }

    String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
