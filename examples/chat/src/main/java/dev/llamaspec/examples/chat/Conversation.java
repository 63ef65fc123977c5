package dev.llamaspec.examples.chat;

import dev.llamaspec.ChatMessage;
import dev.llamaspec.StopReason;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * What was said so far: an optional system text and the exchanges (a user line and the reply to
 * it). Renders the prompt for the next line in either mode, from a given first exchange on (older
 * exchanges that no longer fit the context are left out of the prompt but kept for {@code /save}).
 */
final class Conversation {
    /** One user line and the model's reply, as generated (also when the reply was cancelled). */
    record Exchange(String user, String reply, StopReason stopReason) {
        Exchange {
            Objects.requireNonNull(user, "user");
            Objects.requireNonNull(reply, "reply");
            Objects.requireNonNull(stopReason, "stopReason");
        }
    }

    private String system = "";
    private final List<Exchange> exchanges = new ArrayList<>();

    /** The system text, empty when there is none. */
    String system() {
        return system;
    }

    void setSystem(String system) {
        this.system = system == null ? "" : system.strip();
    }

    List<Exchange> exchanges() {
        return Collections.unmodifiableList(exchanges);
    }

    void add(Exchange exchange) {
        exchanges.add(Objects.requireNonNull(exchange, "exchange"));
    }

    /** Forgets the exchanges; the system text stays. */
    void clear() {
        exchanges.clear();
    }

    /**
     * The chat messages for the next reply: the system text, the exchanges from {@code from} on
     * (replies stripped of the space a template's "Assistant:" leaves before them), then the new line.
     */
    List<ChatMessage> chatMessages(int from, String user) {
        List<ChatMessage> messages = new ArrayList<>();
        if (!system.isEmpty()) {
            messages.add(ChatMessage.system(system));
        }
        for (Exchange e : exchanges.subList(from, exchanges.size())) {
            messages.add(ChatMessage.user(e.user()));
            messages.add(ChatMessage.assistant(e.reply().strip()));
        }
        messages.add(ChatMessage.user(user));
        return messages;
    }

    /**
     * The text to continue in completion mode: the system text and a newline, the exchanges from
     * {@code from} on (each line followed by its reply as generated), then the new line. A space joins a
     * line to text that does not end in white space.
     */
    String completionText(int from, String user) {
        StringBuilder text = new StringBuilder();
        if (!system.isEmpty()) {
            text.append(system).append('\n');
        }
        for (Exchange e : exchanges.subList(from, exchanges.size())) {
            join(text, e.user());
            text.append(e.reply());
        }
        join(text, user);
        return text.toString();
    }

    private static void join(StringBuilder text, String line) {
        if (text.length() > 0 && !Character.isWhitespace(text.charAt(text.length() - 1))
                && !line.isEmpty() && !Character.isWhitespace(line.charAt(0))) {
            text.append(' ');
        }
        text.append(line);
    }

    /** Every message so far, system first, as saved by {@code /save}. */
    List<ChatMessage> allMessages() {
        List<ChatMessage> messages = new ArrayList<>();
        if (!system.isEmpty()) {
            messages.add(ChatMessage.system(system));
        }
        for (Exchange e : exchanges) {
            messages.add(ChatMessage.user(e.user()));
            messages.add(ChatMessage.assistant(e.reply()));
        }
        return messages;
    }
}
