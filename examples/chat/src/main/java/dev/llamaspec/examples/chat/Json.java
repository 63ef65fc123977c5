package dev.llamaspec.examples.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationStats;
import dev.llamaspec.StopReason;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The JSON the CLI writes: {@code --prompt ... --json} results and {@code /save} files. */
final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {}

    /**
     * One generation for scripts: {@code text}, {@code tokens} (count), {@code stopReason},
     * {@code mode}, {@code speculation} and {@code stats} (every {@link GenerationStats} field plus
     * {@code tokensPerStep}, {@code tokensPerSecond} and {@code acceptance}).
     */
    static ObjectNode generation(Generation g, Mode mode, SpeculationChoice speculation) {
        ObjectNode node = MAPPER.createObjectNode();
        node.put("text", g.text());
        node.put("tokens", g.tokens().length);
        node.put("stopReason", g.stopReason().name());
        node.put("mode", mode.label());
        node.put("speculation", speculation.name());
        node.set("stats", stats(g.stats()));
        return node;
    }

    static ObjectNode stats(GenerationStats s) {
        ObjectNode node = MAPPER.valueToTree(s);
        node.put("tokensPerStep", s.tokensPerStep());
        node.put("tokensPerSecond", s.tokensPerSecond());
        if (s.draftedTokens() > 0) {
            node.put("acceptance", (double) s.acceptedTokens() / s.draftedTokens());
        } else {
            node.putNull("acceptance");
        }
        return node;
    }

    /** The conversation as {@code /save} writes it. */
    static ObjectNode conversation(ChatEngine engine) {
        ObjectNode node = MAPPER.createObjectNode();
        node.put("model", engine.model().path().toString());
        node.put("mode", engine.mode().label());
        node.put("speculation", engine.speculation().name());
        ArrayNode messages = node.putArray("messages");
        for (ChatMessage m : engine.conversation().allMessages()) {
            ObjectNode message = messages.addObject();
            message.put("role", m.role().name().toLowerCase(Locale.ROOT));
            message.put("content", m.content());
        }
        return node;
    }

    /** What {@code /save-session} attaches to a session file: the conversation, to resume it. */
    record SavedConversation(Mode mode, String system, int contextStart, List<Conversation.Exchange> exchanges) {}

    static final String SAVED_FORMAT = "llamaspec-chat 1";

    static ObjectNode savedConversation(ChatEngine engine, int contextStart) {
        ObjectNode node = MAPPER.createObjectNode();
        node.put("format", SAVED_FORMAT);
        node.put("mode", engine.mode().name());
        node.put("system", engine.conversation().system());
        node.put("contextStart", contextStart);
        ArrayNode exchanges = node.putArray("exchanges");
        for (Conversation.Exchange e : engine.conversation().exchanges()) {
            exchanges.addObject().put("user", e.user()).put("reply", e.reply()).put("stopReason", e.stopReason().name());
        }
        return node;
    }

    /**
     * The conversation {@link #savedConversation} wrote.
     *
     * @throws IllegalArgumentException when the text is not one
     */
    static SavedConversation readConversation(String text) {
        JsonNode node;
        try {
            node = MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            node = null;
        }
        if (node == null || !SAVED_FORMAT.equals(node.path("format").asText())) {
            throw new IllegalArgumentException("the session file holds no conversation of this CLI");
        }
        Mode mode;
        List<Conversation.Exchange> exchanges = new ArrayList<>();
        try {
            mode = Mode.valueOf(node.path("mode").asText());
            for (JsonNode e : node.path("exchanges")) {
                exchanges.add(new Conversation.Exchange(e.path("user").asText(), e.path("reply").asText(),
                        StopReason.valueOf(e.path("stopReason").asText())));
            }
        } catch (IllegalArgumentException e) { // a name that is no mode or stop reason
            throw new IllegalArgumentException("the session file's conversation is damaged: " + e.getMessage(), e);
        }
        int contextStart = node.path("contextStart").asInt();
        if (contextStart < 0 || contextStart > exchanges.size()) {
            throw new IllegalArgumentException("the session file's conversation is damaged (contextStart "
                    + contextStart + " of " + exchanges.size() + " exchanges)");
        }
        return new SavedConversation(mode, node.path("system").asText(), contextStart, exchanges);
    }

    /** One line, every character outside ASCII escaped, so that the console's encoding cannot garble it. */
    static String compact(ObjectNode node) {
        try {
            return MAPPER.writer().with(JsonWriteFeature.ESCAPE_NON_ASCII.mappedFeature()).writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write JSON", e);
        }
    }

    static void write(Path file, ObjectNode node) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IOException("no such directory: " + parent);
        }
        Files.write(file, MAPPER.writer(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(node));
    }
}
