package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.erosb.jsonsKema.JsonParser;
import com.github.erosb.jsonsKema.SchemaLoader;
import com.github.erosb.jsonsKema.ValidationFailure;
import com.github.erosb.jsonsKema.Validator;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Grammars and JSON Schemas on the real model: every text parses and validates (with json-sKema, a
 * validator independent of our converter), speculation gives the plain constrained output, and bad
 * input is refused before anything is evaluated.
 */
class StructuredOutputTest extends WithTestModel {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Schemas whose values are bounded, so that each completes within maxTokens. */
    static final List<String> SCHEMAS = List.of(
            """
            {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
             "age": {"type": "integer", "minimum": 0}}, "required": ["name", "age"], "additionalProperties": false}""",
            """
            {"type": "object", "properties": {"mood": {"enum": ["happy", "sad", "angry"]},
             "loud": {"type": "boolean"}}, "required": ["mood"]}""",
            """
            {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 8}, "minItems": 1, "maxItems": 3}""",
            """
            {"type": "object", "properties": {"kind": {"const": "dog"}, "legs": {"type": "integer", "minimum": 1},
             "weight": {"type": "number", "minimum": 0}}, "required": ["kind", "legs", "weight"]}""",
            """
            {"$defs": {"pet": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}},
             "required": ["name"]}}, "type": "object", "properties": {"pets": {"type": "array",
             "items": {"$ref": "#/$defs/pet"}, "maxItems": 2}}, "required": ["pets"]}""",
            """
            {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 6}, {"type": "null"}]}""",
            """
            {"type": "object", "properties": {"when": {"type": "string", "format": "date"},
             "id": {"type": "string", "format": "uuid"}}, "required": ["when", "id"]}""",
            """
            {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string", "maxLength": 5},
             "c": {"type": "boolean"}}, "required": ["b"]}""",
            """
            {"type": ["string", "null"], "maxLength": 10}""",
            """
            {"type": "object", "properties": {"owner": {"type": "object", "properties": {"first": {"type": "string",
             "maxLength": 8}, "last": {"type": "string", "maxLength": 8}}, "required": ["first"]},
             "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 3}}, "required": ["owner", "tags"]}""",
            """
            {"oneOf": [{"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"],
             "additionalProperties": false}, {"type": "array", "items": {"type": "boolean"}, "maxItems": 2}]}""",
            """
            {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"},
             "mail": {"type": "string", "format": "email"}}, "required": ["at", "mail"]}""");

    private static void assertValid(String schema, String text, String what) throws Exception {
        JSON.readTree(text); // Jackson parses it
        Validator validator = Validator.forSchema(new SchemaLoader(new JsonParser(schema).parse()).load());
        ValidationFailure failure = validator.validate(new JsonParser(text).parse());
        assertNull(failure, what + ": " + text + " is not valid against " + schema + ": " + failure);
    }

    @Test
    void everySchemaGivesValidJsonGreedyAndSampled() throws Exception {
        List<String> prompts = List.of("Once upon a time", "The cat said", "Here is what they found:");
        int checked = 0;
        try (Session session = model.newSession()) {
            for (String schema : SCHEMAS) {
                for (String prompt : prompts) {
                    for (long seed : new long[] {-1, 1, 2, 3, 4, 5, 6, 7, 8}) {
                        GenerationOptions.Builder b = GenerationOptions.builder().jsonSchema(schema).maxTokens(400);
                        if (seed < 0) {
                            b.temperature(0);
                        } else {
                            b.temperature(0.8f).seed(seed);
                        }
                        Generation g = session.generate(prompt, b.build());
                        String what = "schema " + SCHEMAS.indexOf(schema) + ", prompt '" + prompt + "', seed " + seed;
                        assertEquals(StopReason.END_OF_TEXT, g.stopReason(), what + ": " + g.text());
                        assertValid(schema, g.text().strip(), what);
                        checked++;
                    }
                }
            }
        }
        assertEquals(SCHEMAS.size() * 27, checked);
    }

    @Test
    void speculationGivesThePlainConstrainedOutput() throws Exception {
        List<Speculation> strategies = List.of(Speculation.promptLookup().withBudget(false),
                Speculation.tokenRecycling().withBudget(false), Speculation.auto(), Speculation.lookahead(),
                Speculation.draftModel(model).withBudget(false), Speculation.draftModel(model));
        List<String> prompts = TestModels.storyOpenings(4);
        long[] accepted = new long[strategies.size()];
        try (Session session = model.newSession(SessionOptions.builder().strictNumerics(true).build())) {
            for (String schema : List.of(SCHEMAS.get(0), SCHEMAS.get(4), SCHEMAS.get(7), SCHEMAS.get(9))) {
                for (String prompt : prompts) {
                    GenerationOptions plain = GenerationOptions.builder().jsonSchema(schema).temperature(0).maxTokens(300)
                            .build();
                    String want = session.generate(prompt, plain).text();
                    assertValid(schema, want.strip(), "plain");
                    for (int i = 0; i < strategies.size(); i++) {
                        Speculation spec = strategies.get(i);
                        Generation got = session.generate(prompt, plain.toBuilder().speculation(spec).build());
                        assertEquals(want, got.text(), spec + " on '" + prompt + "' under " + schema);
                        accepted[i] += got.stats().acceptedTokens();
                    }
                }
            }
        }
        // drafts were evaluated under the grammar and accepted: prompt lookup without the budget finds
        // the keys and punctuation the text repeats
        assertTrue(accepted[0] > 0, java.util.Arrays.toString(accepted));
    }

    @Test
    void grammarsAndTheirStops() {
        try (Session session = model.newSession()) {
            Generation yes = session.generate("Once upon a time", GenerationOptions.builder().temperature(0)
                    .grammar("root ::= \" yes\" | \" no\"").build());
            assertTrue(yes.text().equals(" yes") || yes.text().equals(" no"), yes.text());
            assertEquals(StopReason.END_OF_TEXT, yes.stopReason());
            // a grammar that allows no token after "Once" (never a token whose text is NUL)
            Generation dead = session.generate("Once upon a time", GenerationOptions.builder().temperature(0)
                    .grammar("root ::= \"Once\" [\\x00]").speculation(Speculation.promptLookup()).build());
            assertEquals("Once", dead.text());
            assertEquals(StopReason.GRAMMAR, dead.stopReason());
            Generation object = session.generate("The dog", GenerationOptions.builder().temperature(0).maxTokens(300)
                    .jsonObject().build());
            assertEquals(StopReason.END_OF_TEXT, object.stopReason(), object.text());
            assertTrue(object.text().strip().startsWith("{"), object.text());
            assertDoesNotThrowJson(object.text());
        }
    }

    private static void assertDoesNotThrowJson(String text) {
        try {
            assertTrue(JSON.readTree(text).isObject(), text);
        } catch (Exception e) {
            throw new AssertionError("not a JSON object: " + text, e);
        }
    }

    @Test
    void aBadGrammarIsAnIllegalArgumentBeforeAnythingIsEvaluated() {
        try (Session session = model.newSession()) {
            for (String bad : List.of("root ::= \"a\" missing", "root ::= \"unterminated", "other ::= \"a\"",
                    "root ::= [a-")) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> session.generate(
                        "Once upon a time", GenerationOptions.builder().grammar(bad).build()));
                assertTrue(e.getMessage().startsWith("the grammar is not valid GBNF"), e.getMessage());
            }
            assertTrue(assertThrows(IllegalArgumentException.class, () -> GenerationOptions.builder().grammar("  "))
                    .getMessage().contains("empty"));
            // nothing was evaluated (the fresh session's cache is still empty), and the session is usable
            Generation after = session.generate("Once upon a time", TestModels.greedy(4));
            assertEquals(StopReason.MAX_TOKENS, after.stopReason());
            assertEquals(0, after.stats().reusedPromptTokens());
        }
    }

    @Test
    void unsupportedOrBrokenSchemasAreRefusedByNameAndPath() {
        String[][] cases = {
            {"not json", "not JSON"},
            {"{\"type\": \"string\", \"pattern\": \"^a\"}", "#: 'pattern' is not supported"},
            {"{\"type\": \"integer\", \"maximum\": 3}", "#: 'maximum' is not supported"},
            {"{\"allOf\": [{\"type\": \"string\"}]}", "#: 'allOf' is not supported"},
            {"{\"type\": \"object\", \"properties\": {\"a\": {\"not\": {}}}}", "#/properties/a: 'not' is not supported"},
            {"{\"type\": \"object\", \"properties\": {}, \"required\": [\"x\"]}", "#/required: 'x' is not in properties"},
            {"{\"$ref\": \"http://example.com/s.json\"}", "#/$ref: only references to #/$defs/NAME"},
            {"{\"$ref\": \"#/$defs/missing\"}", "#/$ref: '#/$defs/missing' names no schema"},
            {"{\"type\": \"string\", \"format\": \"ipv4\"}", "#/format: format 'ipv4' is not supported"},
            {"{\"type\": \"array\", \"minItems\": 3, \"maxItems\": 2}", "#: maxItems 2 is below minItems 3"},
            {"{\"type\": \"array\", \"prefixItems\": [{}]}", "#: 'prefixItems' is not supported"},
            {"{\"type\": \"array\", \"uniqueItems\": true}", "#: 'uniqueItems' is not supported"},
            {"{\"type\": \"strnig\"}", "#/type: unknown type 'strnig'"},
            {"{\"type\": \"object\", \"properties\": {\"a\": false}}", "#/properties/a: the schema false allows no value"},
            {"{\"type\": \"integer\", \"minimum\": 5}", "#/minimum: only minimum 0 or 1 is supported"},
            {"{\"enum\": []}", "#/enum: must be a non-empty array"},
            {"{\"type\": \"string\", \"minLength\": -1}", "#/minLength: must be a non-negative integer"},
            {"", "empty"},
        };
        List<String> failures = new ArrayList<>();
        for (String[] c : cases) {
            try {
                GenerationOptions.builder().jsonSchema(c[0]);
                failures.add(c[0] + ": accepted");
            } catch (IllegalArgumentException e) {
                if (!e.getMessage().contains(c[1])) {
                    failures.add(c[0] + ": '" + e.getMessage() + "' does not say '" + c[1] + "'");
                }
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }
}
