package dev.llamaspec.examples.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationStats;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
