package dev.llamaspec.spring.demo;

import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ObjectNode;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.MedusaHeads;
import dev.llamaspec.Speculation;
import dev.llamaspec.TokenStream;
import dev.llamaspec.spring.DraftModel;
import dev.llamaspec.spring.LlamaspecProperties;
import dev.llamaspec.spring.ModelNames;
import dev.llamaspec.spring.PooledSession;
import dev.llamaspec.spring.SessionPool;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * OpenAI's chat and text completion endpoints on the starter's session pool: each request borrows a
 * session for its generation. {@code "stream": true} answers with Server-Sent Events generated on the
 * stream executor; otherwise the request thread generates and answers with one JSON object.
 */
@RestController
@RequestMapping("/v1")
public class OpenAiController {
    private final SessionPool pool;
    private final GenerationOptions defaults;
    private final OpenAiRequest.Drafters drafters;
    private final ExecutorService streamExecutor;
    private final ObjectMapper json;
    private final OpenAiResponses responses;
    private final GenerationMetrics metrics;

    /**
     * @param heads      the Medusa heads of llamaspec.heads, if any: requests may ask for "medusa"
     * @param draftModel the draft model of llamaspec.draft-model, if any: requests may ask for "draft"
     */
    public OpenAiController(SessionPool pool, LlamaspecProperties properties, Speculation llamaspecSpeculation,
            ObjectProvider<MedusaHeads> heads, ObjectProvider<DraftModel> draftModel,
            ExecutorService llamaspecStreamExecutor, ObjectMapper json, GenerationMetrics metrics) {
        this.pool = pool;
        this.defaults = properties.generationOptions(llamaspecSpeculation).build();
        DraftModel draft = draftModel.getIfAvailable();
        this.drafters = new OpenAiRequest.Drafters(heads.getIfAvailable(), draft == null ? null : draft.model());
        this.streamExecutor = llamaspecStreamExecutor;
        this.json = json;
        this.responses = new OpenAiResponses(json, ModelNames.of(pool.model()));
        this.metrics = metrics;
    }

    @PostMapping("/chat/completions")
    public Object chatCompletions(@RequestBody(required = false) String body) {
        return answer(parse(OpenAiRequest.Kind.CHAT, body));
    }

    @PostMapping("/completions")
    public Object completions(@RequestBody(required = false) String body) {
        return answer(parse(OpenAiRequest.Kind.TEXT, body));
    }

    @GetMapping("/models")
    public ObjectNode models() {
        return responses.models();
    }

    /**
     * OpenAI's embeddings: "input" is a string or an array of strings; the vectors are the model's
     * (its pooling, L2-normalised), evaluated apart from the pool's sessions, as arrays of numbers or,
     * with "encoding_format": "base64", as base64 of their little-endian float32 values.
     */
    @PostMapping("/embeddings")
    public ObjectNode embeddings(@RequestBody(required = false) String body) {
        OpenAiRequest.EmbeddingRequest request = OpenAiRequest.embeddingRequest(body);
        java.util.List<String> input = request.texts();
        dev.llamaspec.LlamaModel model = pool.model();
        java.util.List<float[]> vectors = model.embed(input);
        ObjectNode out = json.createObjectNode();
        out.put("object", "list");
        tools.jackson.databind.node.ArrayNode data = out.putArray("data");
        for (int i = 0; i < vectors.size(); i++) {
            ObjectNode item = data.addObject();
            item.put("object", "embedding");
            item.put("index", i);
            if (request.base64()) {
                item.put("embedding", OpenAiResponses.base64(vectors.get(i)));
            } else {
                tools.jackson.databind.node.ArrayNode values = item.putArray("embedding");
                for (float v : vectors.get(i)) {
                    values.add(v);
                }
            }
        }
        out.put("model", ModelNames.of(model));
        int tokens = 0;
        for (String text : input) {
            tokens += model.tokenize(text).length;
        }
        out.putObject("usage").put("prompt_tokens", tokens).put("total_tokens", tokens);
        return out;
    }

    private OpenAiRequest parse(OpenAiRequest.Kind kind, String body) {
        return OpenAiRequest.parse(kind, body, defaults, drafters, pool.contextSize());
    }

    /** A JSON object, or an {@link EventStream} for {@code "stream": true}. */
    private Object answer(OpenAiRequest request) {
        return request.stream ? stream(request) : complete(request);
    }

    private ObjectNode complete(OpenAiRequest request) {
        Generation generation;
        try (PooledSession pooled = pool.borrow()) {
            generation = request.generate(pooled.session());
        }
        metrics.record(request, generation);
        return responses.call(request.kind).completion(generation, request.speculation);
    }

    /**
     * Borrows the session and starts the generation here, so that an exhausted pool or a prompt too long
     * for the context is an ordinary JSON error; the events follow from the stream executor.
     */
    private EventStream stream(OpenAiRequest request) {
        PooledSession pooled = pool.borrow();
        TokenStream tokens;
        try {
            tokens = request.start(pooled.session());
        } catch (RuntimeException e) {
            pooled.close();
            throw e;
        }
        EventStream events = new EventStream();
        try {
            streamExecutor.execute(new SseGeneration(request, responses, pooled, tokens, events, json, metrics));
        } catch (RejectedExecutionException e) { // shutting down
            tokens.close();
            pooled.close();
            throw e;
        }
        return events;
    }
}
