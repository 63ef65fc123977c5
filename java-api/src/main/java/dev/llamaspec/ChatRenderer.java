package dev.llamaspec;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Renders one model's conversations in its {@link ChatFormat}, chosen at the first use: llama.cpp's own
 * rendering of a template it knows, else the template as Jinja ({@link JinjaChatTemplate}, only once Jinjava
 * is found on the class path), else the plain format. A Jinja template that Jinjava fails on later, for a
 * conversation unlike the first, turns the model to the plain format for good. Each model that has a
 * template and gets the plain format logs one warning saying why. Thread-safe.
 */
final class ChatRenderer {
    /** The class whose presence says that Jinjava is on the class path. */
    static final String JINJAVA_CLASS = "com.hubspot.jinjava.Jinjava";
    static final String NO_TEMPLATE = "the model has no chat template";
    static final String JINJAVA_MISSING = "llama.cpp does not know the model's chat template, and Jinjava is not on"
            + " the class path to render it: add com.hubspot.jinjava:jinjava to the class path";
    static final String UNRENDERABLE = "llama.cpp does not know the model's chat template, and Jinjava cannot render"
            + " it: ";

    /** The library's logger, where the warning goes. */
    private static final System.Logger LOG = System.getLogger("dev.llamaspec");

    /** llama.cpp's rendering ({@code plain}: the plain format whatever the template). */
    interface NativeChat {
        String apply(List<ChatMessage> messages, boolean addAssistant, boolean plain);
    }

    /** What is used: the format, the Jinja template (JINJA), why it is PLAIN (PLAIN). */
    private static final class Choice {
        final ChatFormat format;
        final JinjaChatTemplate jinja;
        final String plainReason;

        Choice(ChatFormat format, JinjaChatTemplate jinja, String plainReason) {
            this.format = format;
            this.jinja = jinja;
            this.plainReason = plainReason;
        }
    }

    private final String modelName;
    private final NativeChat nativeChat;
    private volatile Choice choice;

    /**
     * Chooses the format.
     *
     * @param modelName      names the model in the warning
     * @param info           the model's template and BOS/EOS tokens
     * @param builtin        whether llama.cpp knows the template
     * @param tokenText      the text of a token, special tokens as their text ({@code bos_token}, {@code eos_token})
     * @param jinjavaPresent whether Jinjava is on the class path ({@link #jinjavaPresent()}; false for tests)
     */
    ChatRenderer(String modelName, ModelInfo info, boolean builtin, java.util.function.IntFunction<String> tokenText,
            NativeChat nativeChat, boolean jinjavaPresent) {
        this.modelName = Objects.requireNonNull(modelName, "modelName");
        this.nativeChat = Objects.requireNonNull(nativeChat, "nativeChat");
        Optional<String> template = info.chatTemplate();
        if (template.isEmpty()) {
            choice = new Choice(ChatFormat.PLAIN, null, NO_TEMPLATE);
        } else if (builtin) {
            choice = new Choice(ChatFormat.LLAMA_CPP, null, null);
        } else if (!jinjavaPresent) {
            choice = plain(JINJAVA_MISSING);
        } else {
            String bos = info.bosToken() >= 0 ? tokenText.apply(info.bosToken()) : "";
            String eos = info.eosToken() >= 0 ? tokenText.apply(info.eosToken()) : "";
            Choice c;
            try {
                c = new Choice(ChatFormat.JINJA,
                        JinjaChatTemplate.of(template.get(), bos, eos, info.addsBos(), info.addsEos()), null);
            } catch (JinjaChatTemplate.Unrenderable e) {
                c = plain(UNRENDERABLE + e.getMessage());
            } catch (LinkageError e) {
                c = plain(jinjavaBroken(e));
            }
            choice = c;
        }
    }

    /** Whether Jinjava is on the class path of this library. */
    static boolean jinjavaPresent() {
        try {
            Class.forName(JINJAVA_CLASS, false, ChatRenderer.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    ChatFormat format() {
        return choice.format;
    }

    /** Why the format is PLAIN; empty when it is not. */
    Optional<String> plainReason() {
        return Optional.ofNullable(choice.plainReason);
    }

    /**
     * Renders a conversation.
     *
     * @throws LlamaException ({@link ErrorCode#TEMPLATE}) when a Jinja template refuses it
     */
    String apply(List<ChatMessage> messages, boolean addAssistant) {
        Choice c = choice;
        if (c.format != ChatFormat.JINJA) {
            return nativeChat.apply(messages, addAssistant, c.format == ChatFormat.PLAIN);
        }
        try {
            return c.jinja.render(messages, addAssistant);
        } catch (JinjaChatTemplate.Unrenderable e) {
            turnPlain(c, UNRENDERABLE + e.getMessage());
        } catch (LinkageError e) {
            turnPlain(c, jinjavaBroken(e));
        }
        return nativeChat.apply(messages, addAssistant, true);
    }

    private synchronized void turnPlain(Choice from, String reason) {
        if (choice == from) {
            choice = plain(reason);
        }
    }

    /** The plain format for a model that has a template, with the warning. */
    private Choice plain(String reason) {
        LOG.log(System.Logger.Level.WARNING, "{0}: conversations get the plain User:/Assistant: format: {1}",
                modelName, reason);
        return new Choice(ChatFormat.PLAIN, null, reason);
    }

    private static String jinjavaBroken(LinkageError e) {
        return "llama.cpp does not know the model's chat template, and Jinjava cannot be loaded to render it: " + e;
    }
}
