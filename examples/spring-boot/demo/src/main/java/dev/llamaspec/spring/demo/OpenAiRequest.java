package dev.llamaspec.spring.demo;

import tools.jackson.core.JacksonException;
import tools.jackson.core.json.JsonReadFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;
import dev.llamaspec.ChatMessage;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.MedusaHeads;
import dev.llamaspec.Session;
import dev.llamaspec.Speculation;
import dev.llamaspec.TokenStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A validated request of {@code /v1/chat/completions} or {@code /v1/completions}. Parsing checks every
 * field it uses and throws {@link ApiException} naming the field; fields of OpenAI's API that the
 * service does not use (frequency_penalty, logprobs, user, ...) are ignored.
 */
final class OpenAiRequest {
    /** Which endpoint the request came to. */
    enum Kind { CHAT, TEXT }

    static final int MAX_STOP_STRINGS = 4;
    static final double MAX_TEMPERATURE = 2.0;

    /** Reads NaN and Infinity too, so that they reach validation and get a message naming the field. */
    private static final ObjectMapper READER = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    final Kind kind;
    final List<ChatMessage> messages;
    final String prompt;
    final GenerationOptions options;
    /** The canonical name of the speculation used. */
    final String speculation;
    final boolean stream;

    private OpenAiRequest(Kind kind, List<ChatMessage> messages, String prompt, GenerationOptions options,
            String speculation, boolean stream) {
        this.kind = kind;
        this.messages = messages;
        this.prompt = prompt;
        this.options = options;
        this.speculation = speculation;
        this.stream = stream;
    }

    /** Starts the generation as a stream on a borrowed session. */
    TokenStream start(Session session) {
        return kind == Kind.CHAT ? session.chatStream(messages, options) : session.stream(prompt, options);
    }

    /** Generates to the end on a borrowed session. */
    Generation generate(Session session) {
        return kind == Kind.CHAT ? session.chat(messages, options) : session.generate(prompt, options);
    }

    /**
     * OpenAI's response_format: {"type": "text"} (free text), {"type": "json_object"} (any JSON object)
     * or {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}; the JSON kinds are
     * enforced with a grammar.
     */
    private static void responseFormat(JsonNode format, GenerationOptions.Builder options) {
        if (format == null || format.isNull()) {
            return;
        }
        if (!format.isObject() || !format.path("type").isString()) {
            throw ApiException.invalid("response_format", "response_format must be an object with a \"type\": "
                    + "\"text\", \"json_object\" or \"json_schema\".");
        }
        switch (format.get("type").stringValue()) {
            case "text":
                return;
            case "json_object":
                options.jsonObject();
                return;
            case "json_schema":
                JsonNode schema = format.path("json_schema").path("schema");
                if (!schema.isObject() && !schema.isBoolean()) {
                    throw ApiException.invalid("response_format", "response_format of type json_schema needs "
                            + "json_schema.schema, a JSON Schema object.");
                }
                try {
                    options.jsonSchema(schema.toString());
                } catch (IllegalArgumentException e) {
                    throw ApiException.invalid("response_format", "response_format.json_schema.schema: "
                            + e.getMessage() + ".");
                }
                return;
            default:
                throw ApiException.invalid("response_format", "response_format type must be \"text\", "
                        + "\"json_object\" or \"json_schema\", got \"" + format.get("type").stringValue() + "\".");
        }
    }

    /** The request body as a JSON object. */
    private static JsonNode body(String body) {
        if (body == null || body.isBlank()) {
            throw ApiException.invalid(null, "The request body is empty; send a JSON object.");
        }
        JsonNode root;
        try {
            root = READER.readTree(body);
        } catch (JacksonException e) {
            throw ApiException.invalid(null, "The request body is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw ApiException.invalid(null, "The request body must be a JSON object.");
        }
        return root;
    }

    /**
     * An embeddings request: its texts, and whether the vectors go back as base64 (little-endian float32,
     * OpenAI's {@code "encoding_format": "base64"}, the default of OpenAI's own client libraries) or as
     * arrays of numbers ({@code "float"}, the default here).
     */
    record EmbeddingRequest(List<String> texts, boolean base64) {}

    /** An embeddings request: "input" as a string or a non-empty array of non-empty strings. */
    static EmbeddingRequest embeddingRequest(String body) {
        JsonNode root = body(body);
        String format = root.path("encoding_format").asString("float");
        if (!format.equals("float") && !format.equals("base64")) {
            throw ApiException.invalid("encoding_format",
                    "encoding_format must be \"float\" or \"base64\", got \"" + format + "\".");
        }
        if (root.has("dimensions")) {
            throw ApiException.invalid("dimensions", "dimensions is not supported: the vectors have the model's size.");
        }
        JsonNode input = root.get("input");
        if (input == null || input.isNull()) {
            throw ApiException.invalid("input", "input is required: a string or an array of strings.");
        }
        List<String> texts = new ArrayList<>();
        if (input.isString()) {
            texts.add(input.stringValue());
        } else if (input.isArray() && !input.isEmpty()) {
            for (int i = 0; i < input.size(); i++) {
                if (!input.get(i).isString()) {
                    throw ApiException.invalid("input", "input[" + i + "] must be a string (token arrays are not"
                            + " supported).");
                }
                texts.add(input.get(i).stringValue());
            }
        } else {
            throw ApiException.invalid("input", "input must be a string or a non-empty array of strings.");
        }
        for (int i = 0; i < texts.size(); i++) {
            if (texts.get(i).isEmpty()) {
                throw ApiException.invalid("input", (input.isString() ? "input" : "input[" + i + "]") + " is empty.");
            }
        }
        return new EmbeddingRequest(texts, format.equals("base64"));
    }

    /** What a request's "speculation" can use: the heads and the draft model loaded at startup, or null. */
    record Drafters(MedusaHeads heads, LlamaModel draftModel) {}

    /**
     * @param defaults    the configured defaults (max tokens, temperature, speculation)
     * @param drafters    the heads and draft model that "speculation": "medusa" and "draft" use
     * @param contextSize the sessions' context size: the largest max_tokens accepted
     */
    static OpenAiRequest parse(Kind kind, String body, GenerationOptions defaults, Drafters drafters,
            int contextSize) {
        JsonNode root = body(body);

        List<ChatMessage> messages = kind == Kind.CHAT ? messages(root.get("messages")) : null;
        String prompt = kind == Kind.TEXT ? prompt(root.get("prompt")) : null;

        GenerationOptions.Builder options = defaults.toBuilder();
        String maxTokensName = present(root, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        Integer maxTokens = integer(root, maxTokensName);
        if (maxTokens != null) {
            if (maxTokens <= 0) {
                throw ApiException.invalid(maxTokensName, maxTokensName + " must be at least 1, got " + maxTokens + ".");
            }
            if (maxTokens > contextSize) {
                throw ApiException.invalid(maxTokensName, maxTokensName + " must be at most the context size "
                        + contextSize + ", got " + maxTokens + ".");
            }
            options.maxTokens(maxTokens);
        }
        Double temperature = number(root, "temperature");
        if (temperature != null) {
            if (!(temperature >= 0 && temperature <= MAX_TEMPERATURE)) { // also false for NaN
                throw ApiException.invalid("temperature", "temperature must be a number from 0 to " + MAX_TEMPERATURE
                        + ", got " + temperature + ".");
            }
            options.temperature(temperature.floatValue());
        }
        Double topP = number(root, "top_p");
        if (topP != null) {
            if (!(topP > 0 && topP <= 1)) {
                throw ApiException.invalid("top_p", "top_p must be a number above 0 and at most 1, got " + topP + ".");
            }
            options.topP(topP.floatValue());
        }
        Integer topK = integer(root, "top_k");
        if (topK != null) {
            if (topK < 0) {
                throw ApiException.invalid("top_k", "top_k must be 0 (off) or more, got " + topK + ".");
            }
            options.topK(topK);
        }
        Long seed = longInteger(root, "seed");
        if (seed != null) {
            if (seed < 0 || seed >= GenerationOptions.RANDOM_SEED) {
                throw ApiException.invalid("seed", "seed must be from 0 to " + (GenerationOptions.RANDOM_SEED - 1)
                        + ", got " + seed + ".");
            }
            options.seed(seed);
        }
        options.stop(stop(root.get("stop")));
        Integer n = integer(root, "n");
        if (n != null && n != 1) {
            throw ApiException.invalid("n", "n must be 1: the service returns one choice per request, got " + n + ".");
        }
        responseFormat(root.get("response_format"), options);
        Speculation speculation = speculation(root.get("speculation"), drafters);
        if (speculation != null) {
            options.speculation(speculation);
        }
        boolean stream = bool(root, "stream");

        GenerationOptions built;
        try {
            built = options.build();
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(null, capitalise(e.getMessage()) + ".");
        }
        return new OpenAiRequest(kind, messages, prompt, built, built.speculation().name(), stream);
    }

    /**
     * The request's "speculation", a name as {@link Speculation#parse} reads it, with the heads or the draft
     * model loaded at startup; null when absent.
     */
    private static Speculation speculation(JsonNode node, Drafters drafters) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isString()) {
            throw ApiException.invalid("speculation", "speculation must be a string: one of "
                    + Arrays.stream(Speculation.Kind.values()).map(Speculation.Kind::canonicalName)
                            .collect(Collectors.joining(", ")) + ".");
        }
        String name = node.asString();
        Speculation.Kind kind;
        try {
            kind = Speculation.Kind.parse(name);
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("speculation", capitalise(e.getMessage()) + ".");
        }
        if (kind == Speculation.Kind.MEDUSA && drafters.heads() == null) {
            throw ApiException.invalid("speculation", "Speculation '" + name + "' needs Medusa heads, and the service"
                    + " was started without llamaspec.heads.");
        }
        if (kind == Speculation.Kind.DRAFT_MODEL && drafters.draftModel() == null) {
            throw ApiException.invalid("speculation", "Speculation '" + name + "' needs a draft model, and the"
                    + " service was started without llamaspec.draft-model.");
        }
        return Speculation.parse(name, drafters.heads(), drafters.draftModel());
    }

    private static List<ChatMessage> messages(JsonNode node) {
        if (node == null || node.isNull()) {
            throw ApiException.invalid("messages", "messages is required: an array of {\"role\", \"content\"} objects.");
        }
        if (!node.isArray() || node.isEmpty()) {
            throw ApiException.invalid("messages", "messages must be a non-empty array of {\"role\", \"content\"} objects.");
        }
        List<ChatMessage> messages = new ArrayList<>(node.size());
        for (int i = 0; i < node.size(); i++) {
            JsonNode m = node.get(i);
            String param = "messages[" + i + "]";
            if (!m.isObject()) {
                throw ApiException.invalid(param, param + " must be an object with role and content.");
            }
            JsonNode roleNode = m.get("role");
            if (roleNode == null || !roleNode.isString()) {
                throw ApiException.invalid(param + ".role", param + ".role is required: system, user or assistant.");
            }
            String role = roleNode.asString();
            ChatMessage.Role mapped;
            switch (role) {
                case "system":
                case "developer":
                    mapped = ChatMessage.Role.SYSTEM;
                    break;
                case "user":
                    mapped = ChatMessage.Role.USER;
                    break;
                case "assistant":
                    mapped = ChatMessage.Role.ASSISTANT;
                    break;
                default:
                    throw ApiException.invalid(param + ".role", param + ".role '" + role + "' is not supported: use"
                            + " system, user or assistant (the service has no tool calling).");
            }
            messages.add(new ChatMessage(mapped, content(m.get("content"), param + ".content")));
        }
        return messages;
    }

    /** A string, or an array of {"type": "text", "text": ...} parts joined. */
    private static String content(JsonNode node, String param) {
        if (node != null && node.isString()) {
            return node.asString();
        }
        if (node != null && node.isArray()) {
            StringBuilder text = new StringBuilder();
            for (JsonNode part : node) {
                if (!part.isObject() || !"text".equals(part.path("type").asString()) || !part.path("text").isString()) {
                    throw ApiException.invalid(param, param + " parts must be {\"type\": \"text\", \"text\": ...};"
                            + " the service takes text only.");
                }
                text.append(part.get("text").asString());
            }
            return text.toString();
        }
        throw ApiException.invalid(param, param + " is required: a string.");
    }

    private static String prompt(JsonNode node) {
        if (node != null && node.isString()) {
            return node.asString();
        }
        if (node != null && node.isArray() && node.size() == 1 && node.get(0).isString()) {
            return node.get(0).asString();
        }
        if (node != null && node.isArray()) {
            throw ApiException.invalid("prompt", "prompt must be one string: the service answers one prompt per request.");
        }
        throw ApiException.invalid("prompt", "prompt is required: a string.");
    }

    private static List<String> stop(JsonNode node) {
        List<String> stop = new ArrayList<>();
        if (node == null || node.isNull()) {
            return stop;
        }
        if (node.isString()) {
            stop.add(node.asString());
        } else if (node.isArray()) {
            for (JsonNode s : node) {
                if (!s.isString()) {
                    throw ApiException.invalid("stop", "stop must be a string or an array of strings.");
                }
                stop.add(s.asString());
            }
        } else {
            throw ApiException.invalid("stop", "stop must be a string or an array of strings.");
        }
        if (stop.size() > MAX_STOP_STRINGS) {
            throw ApiException.invalid("stop", "stop takes at most " + MAX_STOP_STRINGS + " strings, got " + stop.size()
                    + ".");
        }
        if (stop.contains("")) {
            throw ApiException.invalid("stop", "stop strings must not be empty.");
        }
        return stop;
    }

    private static boolean present(JsonNode root, String name) {
        JsonNode node = root.get(name);
        return node != null && !node.isNull();
    }

    private static Integer integer(JsonNode root, String name) {
        Long value = longInteger(root, name);
        if (value == null) {
            return null;
        }
        if (value < Integer.MIN_VALUE || value > Integer.MAX_VALUE) {
            throw ApiException.invalid(name, name + " is out of range: " + value + ".");
        }
        return value.intValue();
    }

    private static Long longInteger(JsonNode root, String name) {
        JsonNode node = root.get(name);
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isIntegralNumber() || !node.canConvertToLong()) {
            throw ApiException.invalid(name, name + " must be an integer, got " + node + ".");
        }
        return node.asLong();
    }

    private static Double number(JsonNode root, String name) {
        JsonNode node = root.get(name);
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isNumber()) {
            throw ApiException.invalid(name, name + " must be a number, got " + node + ".");
        }
        return node.asDouble();
    }

    private static boolean bool(JsonNode root, String name) {
        JsonNode node = root.get(name);
        if (node == null || node.isNull()) {
            return false;
        }
        if (!node.isBoolean()) {
            throw ApiException.invalid(name, name + " must be true or false, got " + node + ".");
        }
        return node.asBoolean();
    }

    private static String capitalise(String message) {
        return message.isEmpty() ? message : Character.toUpperCase(message.charAt(0)) + message.substring(1);
    }
}
