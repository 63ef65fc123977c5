package dev.llamaspec.spring.demo;

import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ObjectNode;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationStats;
import dev.llamaspec.StopReason;
import java.util.UUID;

/**
 * The JSON of OpenAI's chat completion, text completion and streaming chunk objects, with two extra
 * fields: {@code usage} is always present, and {@code llamaspec} has the speculation statistics.
 */
final class OpenAiResponses {
    private final ObjectMapper json;
    private final String model;

    OpenAiResponses(ObjectMapper json, String model) {
        this.json = json;
        this.model = model;
    }

    /** The identity shared by a response and all chunks of one stream. */
    final class Call {
        final OpenAiRequest.Kind kind;
        final String id;
        final long created = System.currentTimeMillis() / 1000;

        Call(OpenAiRequest.Kind kind) {
            this.kind = kind;
            this.id = (kind == OpenAiRequest.Kind.CHAT ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
        }

        /** The whole answer of a request without {@code stream}. */
        ObjectNode completion(Generation generation, String speculation) {
            ObjectNode root = head(kind == OpenAiRequest.Kind.CHAT ? "chat.completion" : "text_completion");
            ObjectNode choice = root.putArray("choices").addObject();
            choice.put("index", 0);
            if (kind == OpenAiRequest.Kind.CHAT) {
                ObjectNode message = choice.putObject("message");
                message.put("role", "assistant");
                message.put("content", generation.text());
            } else {
                choice.put("text", generation.text());
                choice.putNull("logprobs");
            }
            choice.put("finish_reason", finishReason(generation.stopReason()));
            root.set("usage", usage(generation.stats()));
            root.set("llamaspec", llamaspec(generation, speculation));
            return root;
        }

        /** A streaming chunk with text; for chat the first one also carries the role. */
        ObjectNode chunk(String text, boolean first) {
            ObjectNode root = head(kind == OpenAiRequest.Kind.CHAT ? "chat.completion.chunk" : "text_completion");
            ObjectNode choice = root.putArray("choices").addObject();
            choice.put("index", 0);
            if (kind == OpenAiRequest.Kind.CHAT) {
                ObjectNode delta = choice.putObject("delta");
                if (first) {
                    delta.put("role", "assistant");
                }
                delta.put("content", text);
            } else {
                choice.put("text", text);
                choice.putNull("logprobs");
            }
            choice.putNull("finish_reason");
            return root;
        }

        /** The last chunk: no text, the finish reason, usage and statistics. */
        ObjectNode lastChunk(Generation generation, String speculation) {
            ObjectNode root = head(kind == OpenAiRequest.Kind.CHAT ? "chat.completion.chunk" : "text_completion");
            ObjectNode choice = root.putArray("choices").addObject();
            choice.put("index", 0);
            if (kind == OpenAiRequest.Kind.CHAT) {
                choice.putObject("delta");
            } else {
                choice.put("text", "");
                choice.putNull("logprobs");
            }
            choice.put("finish_reason", finishReason(generation.stopReason()));
            root.set("usage", usage(generation.stats()));
            root.set("llamaspec", llamaspec(generation, speculation));
            return root;
        }

        private ObjectNode head(String object) {
            ObjectNode root = json.createObjectNode();
            root.put("id", id);
            root.put("object", object);
            root.put("created", created);
            root.put("model", model);
            return root;
        }
    }

    Call call(OpenAiRequest.Kind kind) {
        return new Call(kind);
    }

    /** {@code GET /v1/models}: the one model this service runs. */
    ObjectNode models() {
        ObjectNode root = json.createObjectNode();
        root.put("object", "list");
        ObjectNode entry = root.putArray("data").addObject();
        entry.put("id", model);
        entry.put("object", "model");
        entry.put("created", 0);
        entry.put("owned_by", "llamaspec");
        return root;
    }

    /** {@code vector} as OpenAI's base64 embeddings encode it: its float32 values, little-endian. */
    static String base64(float[] vector) {
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(Float.BYTES * vector.length)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(vector);
        return java.util.Base64.getEncoder().encodeToString(bytes.array());
    }

    /** OpenAI's error object. */
    static ObjectNode error(ObjectMapper json, String message, String type, String param, String code) {
        ObjectNode root = json.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", message);
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        return root;
    }

    private ObjectNode usage(GenerationStats stats) {
        ObjectNode usage = json.createObjectNode();
        usage.put("prompt_tokens", stats.promptTokens());
        usage.put("completion_tokens", stats.generatedTokens());
        usage.put("total_tokens", stats.promptTokens() + stats.generatedTokens());
        return usage;
    }

    private ObjectNode llamaspec(Generation generation, String speculation) {
        GenerationStats stats = generation.stats();
        ObjectNode node = json.createObjectNode();
        node.put("speculation", speculation);
        node.put("stop_reason", generation.stopReason().name().toLowerCase(java.util.Locale.ROOT));
        node.put("steps", stats.steps());
        node.put("tokens_per_step", stats.tokensPerStep());
        node.put("drafted", stats.draftedTokens());
        node.put("accepted", stats.acceptedTokens());
        node.put("tokens_per_second", stats.tokensPerSecond());
        node.put("time_to_first_token_ms", stats.timeToFirstTokenMillis());
        node.put("prompt_tokens_reused", stats.reusedPromptTokens());
        return node;
    }

    /** OpenAI's finish reasons; "cancelled" only reaches a client whose stream was cut short. */
    static String finishReason(StopReason reason) {
        switch (reason) {
            case END_OF_TEXT:
            case STOP_STRING:
            case GRAMMAR:
                return "stop";
            case MAX_TOKENS:
            case CONTEXT_FULL:
                return "length";
            default:
                return "cancelled";
        }
    }
}
