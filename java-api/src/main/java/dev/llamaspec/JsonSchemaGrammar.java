package dev.llamaspec;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * JSON Schema to a grammar (llama.cpp's GBNF) whose texts are exactly JSON values valid against the
 * schema, for {@link GenerationOptions.Builder#jsonSchema(String)}.
 *
 * <p>Supported: {@code type} (one or a list), objects with {@code properties} (in their order; those in
 * {@code required} always present, the others optional), {@code additionalProperties} (false, true,
 * or a schema for an object without {@code properties}), arrays with {@code items},
 * {@code minItems}, {@code maxItems}, strings with {@code minLength}, {@code maxLength} and the formats
 * {@code date} (never February 29th: the grammar does not know leap years), {@code time}, {@code date-time},
 * {@code uuid} and {@code email}, numbers and integers
 * ({@code minimum} 0, and 1 for integers; {@code format} int32 and int64 keep integers to 9 and 18
 * digits), booleans, null, {@code enum}, {@code const}, {@code $ref} to
 * {@code #/$defs/NAME} or {@code #/definitions/NAME} (recursion too), {@code anyOf} and {@code oneOf}
 * (as alternatives: a value may match more than one branch of a oneOf), and the annotations
 * ({@code title}, {@code description}, {@code default}, {@code examples}, ...). Anything else
 * ({@code pattern}, {@code maximum}, {@code allOf}, {@code not}, {@code prefixItems},
 * {@code uniqueItems}, ...) is refused with an {@link IllegalArgumentException} naming the keyword and
 * the schema path, never ignored.
 *
 * <p>The grammar keeps every value finite where the schema allows: integers have at most 16 digits,
 * fractions 16, exponents 3, and whitespace between tokens is at most one space or a newline with 8
 * spaces; strings and arrays without a maximum length are unbounded (the generation's maxTokens ends
 * them). Objects never get properties the schema does not name.
 */
public final class JsonSchemaGrammar {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** The rules every grammar may use, by name. */
    private static final Map<String, String> BASE = new LinkedHashMap<>();

    static {
        BASE.put("ws", "( \" \" | \"\\n\" [ ]{0,8} )?");
        BASE.put("json-value", "json-object | json-array | json-string | json-number | json-boolean | json-null");
        BASE.put("json-object", "\"{\" ws ( json-string ws \":\" ws json-value ( ws \",\" ws json-string ws \":\" ws json-value )* )? ws \"}\"");
        BASE.put("json-array", "\"[\" ws ( json-value ( ws \",\" ws json-value )* )? ws \"]\"");
        BASE.put("json-string", "\"\\\"\" json-char* \"\\\"\"");
        BASE.put("json-char", "[^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )");
        BASE.put("json-number", "json-integer ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?");
        BASE.put("json-integer", "\"-\"? json-natural");
        BASE.put("json-natural", "\"0\" | [1-9] [0-9]{0,15}");
        BASE.put("json-boolean", "\"true\" | \"false\"");
        BASE.put("json-null", "\"null\"");
        // every day that exists in every year (February without the 29th)
        BASE.put("json-date", "[0-9]{4} \"-\" ( ( \"0\" [13578] | \"1\" [02] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"3\" [01] )"
                + " | ( \"0\" [469] | \"11\" ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"30\" )"
                + " | \"02-\" ( \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8] ) )");
        BASE.put("json-time", "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} )? "
                + "( \"Z\" | [+-] ( ( \"0\" [0-9] | \"1\" [0-7] ) \":\" [0-5] [0-9] | \"18:00\" ) )"); // offsets within +-18:00
        BASE.put("json-uuid", "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{12}");
        // dot-separated atoms before the @ (at most 63 characters: a local part has at most 64), letters
        // and digits in the domain's labels
        BASE.put("json-email", "[a-zA-Z0-9_+-]{1,15} ( \".\" [a-zA-Z0-9_+-]{1,15} ){0,3} \"@\" [a-zA-Z0-9]{1,32}"
                + " ( \".\" [a-zA-Z0-9]{1,32} ){0,3} \".\" [a-zA-Z]{2,8}");
    }

    /** Keywords that only describe (ignored wherever they appear). */
    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "default", "examples", "$comment",
            "$schema", "$id", "$anchor", "deprecated", "readOnly", "writeOnly", "$defs", "definitions");

    private final JsonNode root;
    private final Map<String, String> rules = new LinkedHashMap<>();
    private final Map<String, String> refs = new HashMap<>(); // $ref -> its rule
    private final List<String> usedBase = new ArrayList<>();

    private JsonSchemaGrammar(JsonNode root) {
        this.root = root;
        base("ws"); // the schema's own rules use it
    }

    /**
     * The grammar of the values valid against this JSON Schema.
     *
     * @throws IllegalArgumentException when the text is not JSON, or the schema uses what is not
     *     supported (named, with its path) or is not a valid schema there
     */
    public static String fromSchema(String schema) {
        if (schema == null || schema.isBlank()) {
            throw new IllegalArgumentException("the JSON Schema is empty");
        }
        JsonNode node;
        try {
            node = MAPPER.readTree(schema);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("the JSON Schema is not JSON: " + e.getOriginalMessage(), e);
        }
        JsonSchemaGrammar g = new JsonSchemaGrammar(node);
        g.rules.put("root", ""); // first, filled below
        g.rules.put("root", g.expression(node, "#", "root"));
        return g.render();
    }

    /** The grammar of any JSON object. */
    public static String anyObject() {
        JsonSchemaGrammar g = new JsonSchemaGrammar(null);
        g.rules.put("root", g.base("json-object"));
        return g.render();
    }

    private String render() {
        StringBuilder out = new StringBuilder();
        rules.forEach((name, body) -> out.append(name).append(" ::= ").append(body).append('\n'));
        // the base rules used, and those they use
        List<String> pending = new ArrayList<>(usedBase);
        List<String> written = new ArrayList<>();
        while (!pending.isEmpty()) {
            String name = pending.remove(0);
            if (written.contains(name)) {
                continue;
            }
            written.add(name);
            String body = BASE.get(name);
            out.append(name).append(" ::= ").append(body).append('\n');
            for (String other : BASE.keySet()) {
                if (!written.contains(other) && body.matches(".*(^|[ (|])" + other + "([ )*?|{]|$).*")) {
                    pending.add(other);
                }
            }
        }
        return out.toString();
    }

    private String base(String name) {
        if (!usedBase.contains(name)) {
            usedBase.add(name);
        }
        return name;
    }

    private static IllegalArgumentException refuse(String path, String what) {
        return new IllegalArgumentException("JSON Schema " + path + ": " + what);
    }

    /** A new rule's name from a hint (letters, digits and '-'), unique in this grammar. */
    private String ruleName(String hint) {
        String name = hint.replaceAll("[^A-Za-z0-9]+", "-").replaceAll("^-+|-+$", "").toLowerCase();
        if (name.isEmpty() || BASE.containsKey(name)) {
            name = "s-" + name;
        }
        String unique = name;
        for (int i = 2; rules.containsKey(unique) || BASE.containsKey(unique); i++) {
            unique = name + "-" + i;
        }
        return unique;
    }

    private String rule(String hint, String body) {
        String name = ruleName(hint);
        rules.put(name, body);
        return name;
    }

    /** A GBNF expression for the values valid against schema (at path). */
    private String expression(JsonNode schema, String path, String hint) {
        if (schema.isBoolean()) {
            if (!schema.booleanValue()) {
                throw refuse(path, "the schema false allows no value");
            }
            return base("json-value");
        }
        if (!schema.isObject()) {
            throw refuse(path, "a schema must be an object or a boolean, not " + schema.getNodeType());
        }
        for (Iterator<String> it = schema.fieldNames(); it.hasNext(); ) {
            String keyword = it.next();
            if (!ANNOTATIONS.contains(keyword) && !KNOWN.contains(keyword)) {
                throw refuse(path, "'" + keyword + "' is not supported");
            }
        }
        if (schema.has("$ref")) {
            only(schema, path, "$ref");
            return reference(schema.get("$ref"), path);
        }
        if (schema.has("const")) {
            only(schema, path, "const");
            return literal(schema.get("const"));
        }
        if (schema.has("enum")) {
            only(schema, path, "enum", "type");
            JsonNode values = schema.get("enum");
            if (!values.isArray() || values.isEmpty()) {
                throw refuse(path + "/enum", "must be a non-empty array");
            }
            List<String> options = new ArrayList<>();
            for (JsonNode v : values) {
                options.add(literal(v));
            }
            return "( " + String.join(" | ", options) + " )";
        }
        for (String combinator : List.of("anyOf", "oneOf")) {
            if (schema.has(combinator)) {
                only(schema, path, combinator);
                JsonNode branches = schema.get(combinator);
                if (!branches.isArray() || branches.isEmpty()) {
                    throw refuse(path + "/" + combinator, "must be a non-empty array of schemas");
                }
                List<String> options = new ArrayList<>();
                for (int i = 0; i < branches.size(); i++) {
                    options.add(expression(branches.get(i), path + "/" + combinator + "/" + i, hint + "-" + i));
                }
                return rule(hint, String.join(" | ", options));
            }
        }
        JsonNode type = schema.get("type");
        if (type == null) {
            if (schema.has("properties") || schema.has("required") || schema.has("additionalProperties")) {
                return typed(schema, "object", path, hint);
            }
            if (schema.has("items") || schema.has("minItems") || schema.has("maxItems")) {
                return typed(schema, "array", path, hint);
            }
            if (schema.has("minLength") || schema.has("maxLength") || schema.has("format")) {
                return typed(schema, "string", path, hint);
            }
            return base("json-value");
        }
        if (type.isTextual()) {
            return typed(schema, type.textValue(), path, hint);
        }
        if (type.isArray() && !type.isEmpty()) {
            List<String> options = new ArrayList<>();
            for (JsonNode t : type) {
                if (!t.isTextual()) {
                    throw refuse(path + "/type", "must name types");
                }
                options.add(typed(schema, t.textValue(), path, hint + "-" + t.textValue()));
            }
            return "( " + String.join(" | ", options) + " )";
        }
        throw refuse(path + "/type", "must be a type name or a non-empty array of them");
    }

    /** The keywords this converter understands (beside the annotations). */
    private static final Set<String> KNOWN = Set.of("type", "properties", "required", "additionalProperties", "items",
            "minItems", "maxItems", "minLength", "maxLength", "format", "minimum", "enum", "const", "$ref", "anyOf",
            "oneOf");

    /** With keyword, the schema may hold nothing but the annotations and these. */
    private static void only(JsonNode schema, String path, String keyword, String... alsoAllowed) {
        for (Iterator<String> it = schema.fieldNames(); it.hasNext(); ) {
            String other = it.next();
            if (!other.equals(keyword) && !ANNOTATIONS.contains(other) && !List.of(alsoAllowed).contains(other)) {
                throw refuse(path, "'" + other + "' beside '" + keyword + "' is not supported");
            }
        }
    }

    private String reference(JsonNode ref, String path) {
        if (!ref.isTextual()) {
            throw refuse(path + "/$ref", "must be a string");
        }
        String target = ref.textValue();
        String existing = refs.get(target);
        if (existing != null) {
            return existing;
        }
        String[] parts = target.split("/", -1);
        if (parts.length != 3 || !parts[0].equals("#") || !(parts[1].equals("$defs") || parts[1].equals("definitions"))) {
            throw refuse(path + "/$ref", "only references to #/$defs/NAME or #/definitions/NAME are supported, not '"
                    + target + "'");
        }
        String name = parts[2].replace("~1", "/").replace("~0", "~");
        JsonNode defs = root.get(parts[1]);
        JsonNode def = defs == null ? null : defs.get(name);
        if (def == null) {
            throw refuse(path + "/$ref", "'" + target + "' names no schema");
        }
        String rule = ruleName(name);
        refs.put(target, rule);
        rules.put(rule, ""); // reserved before its body, which may refer back to it
        rules.put(rule, expression(def, "#/" + parts[1] + "/" + parts[2], rule));
        return rule;
    }

    private String typed(JsonNode schema, String type, String path, String hint) {
        switch (type) {
            case "object":
                return object(schema, path, hint);
            case "array":
                return array(schema, path, hint);
            case "string":
                return string(schema, path);
            case "integer":
                return number(schema, path, true);
            case "number":
                return number(schema, path, false);
            case "boolean":
                return base("json-boolean");
            case "null":
                return base("json-null");
            default:
                throw refuse(path + "/type", "unknown type '" + type + "'");
        }
    }

    private String object(JsonNode schema, String path, String hint) {
        JsonNode properties = schema.get("properties");
        JsonNode additional = schema.get("additionalProperties");
        List<String> required = new ArrayList<>();
        if (schema.has("required")) {
            JsonNode r = schema.get("required");
            if (!r.isArray()) {
                throw refuse(path + "/required", "must be an array of property names");
            }
            for (JsonNode name : r) {
                if (!name.isTextual()) {
                    throw refuse(path + "/required", "must be an array of property names");
                }
                if (properties == null || !properties.has(name.textValue())) {
                    throw refuse(path + "/required", "'" + name.textValue() + "' is not in properties");
                }
                required.add(name.textValue());
            }
        }
        if (properties == null) {
            if (additional == null || (additional.isBoolean() && additional.booleanValue())) {
                return base("json-object");
            }
            if (additional.isBoolean()) {
                return "\"{\" ws \"}\"";
            }
            String value = expression(additional, path + "/additionalProperties", hint + "-value");
            String kv = base("json-string") + " ws \":\" ws " + value;
            return rule(hint, "\"{\" ws ( " + kv + " ( ws \",\" ws " + kv + " )* )? ws \"}\"");
        }
        if (!properties.isObject()) {
            throw refuse(path + "/properties", "must be an object of schemas");
        }
        if (additional != null && !additional.isBoolean()) {
            throw refuse(path + "/additionalProperties", "a schema for properties beside 'properties' is not supported"
                    + " (only true or false)");
        }
        List<String> kvs = new ArrayList<>();
        List<Boolean> req = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = properties.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> p = it.next();
            String value = expression(p.getValue(), path + "/properties/" + pointer(p.getKey()), hint + "-" + p.getKey());
            kvs.add(literal(MAPPER.getNodeFactory().textNode(p.getKey())) + " ws \":\" ws " + value);
            req.add(required.contains(p.getKey()));
        }
        int n = kvs.size();
        if (n == 0) {
            return "\"{\" ws \"}\"";
        }
        if (!req.contains(false)) {
            return rule(hint, "\"{\" ws " + String.join(" ws \",\" ws ", kvs) + " ws \"}\"");
        }
        // rest[i]: properties i.. after at least one was written; first[i]: the same before any was
        String[] rest = new String[n + 1];
        String[] first = new String[n + 1];
        rest[n] = "";
        first[n] = "";
        for (int i = n - 1; i >= 0; i--) {
            String after = rest[i + 1].isEmpty() ? "" : " " + rest[i + 1];
            String restBody = req.get(i) ? "ws \",\" ws " + kvs.get(i) + after : "( ws \",\" ws " + kvs.get(i) + " )?" + after;
            rest[i] = rule(hint + "-rest-" + i, restBody);
            String firstBody;
            if (req.get(i)) {
                firstBody = kvs.get(i) + after;
            } else if (first[i + 1].isEmpty()) {
                firstBody = "( " + kvs.get(i) + after + " )?";
            } else {
                firstBody = kvs.get(i) + after + " | " + first[i + 1];
            }
            first[i] = rule(hint + "-first-" + i, firstBody);
        }
        return rule(hint, "\"{\" ws " + first[0] + " ws \"}\"");
    }

    private String array(JsonNode schema, String path, String hint) {
        JsonNode items = schema.get("items");
        String item = items == null ? base("json-value") : expression(items, path + "/items", hint + "-item");
        int min = count(schema, "minItems", path, 0);
        int max = count(schema, "maxItems", path, -1);
        if (max >= 0 && max < min) {
            throw refuse(path, "maxItems " + max + " is below minItems " + min);
        }
        if (max == 0) {
            return "\"[\" ws \"]\"";
        }
        String more = "( ws \",\" ws " + item + " )" + repeat(Math.max(min - 1, 0), max < 0 ? -1 : max - 1);
        String elements = item + " " + more;
        return rule(hint, "\"[\" ws " + (min > 0 ? elements : "( " + elements + " )?") + " ws \"]\"");
    }

    private String string(JsonNode schema, String path) {
        int min = count(schema, "minLength", path, 0);
        int max = count(schema, "maxLength", path, -1);
        if (max >= 0 && max < min) {
            throw refuse(path, "maxLength " + max + " is below minLength " + min);
        }
        if (schema.has("format")) {
            String format = schema.get("format").asText();
            if (schema.has("minLength") || schema.has("maxLength")) {
                throw refuse(path, "minLength or maxLength beside 'format' is not supported");
            }
            String rule;
            switch (format) {
                case "date": rule = base("json-date"); break;
                case "time": rule = base("json-time"); break;
                case "date-time": rule = base("json-date") + " \"T\" " + base("json-time"); break;
                case "uuid": rule = base("json-uuid"); break;
                case "email": rule = base("json-email"); break;
                default: throw refuse(path + "/format", "format '" + format + "' is not supported (date, time, "
                        + "date-time, uuid, email are)");
            }
            return "\"\\\"\" " + rule + " \"\\\"\"";
        }
        if (min == 0 && max < 0) {
            return base("json-string");
        }
        return "\"\\\"\" " + base("json-char") + repeat(min, max) + " \"\\\"\"";
    }

    private String number(JsonNode schema, String path, boolean integer) {
        // integers of a stated width keep to digits that fit it (Java's int and long, for instance)
        String format = integer && schema.has("format") ? schema.get("format").asText() : "";
        String natural = format.equals("int32") ? "( \"0\" | [1-9] [0-9]{0,8} )"
                : format.equals("int64") ? "( \"0\" | [1-9] [0-9]{0,17} )" : base("json-natural");
        String sign = "\"-\"? ";
        if (schema.has("minimum")) {
            JsonNode m = schema.get("minimum");
            if (m.isNumber() && m.doubleValue() == 0) {
                sign = "";
            } else if (integer && m.isNumber() && m.doubleValue() == 1) {
                return format.equals("int32") ? "[1-9] [0-9]{0,8}" : "[1-9] [0-9]{0,15}";
            } else {
                throw refuse(path + "/minimum", "only minimum 0" + (integer ? " or 1" : "") + " is supported, not " + m);
            }
        }
        String whole = sign + natural;
        return integer ? "( " + whole + " )" : "( " + whole + " ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )? )";
    }

    private static int count(JsonNode schema, String keyword, String path, int absent) {
        JsonNode v = schema.get(keyword);
        if (v == null) {
            return absent;
        }
        if (!v.canConvertToInt() || !v.isIntegralNumber() || v.intValue() < 0) {
            throw refuse(path + "/" + keyword, "must be a non-negative integer, not " + v);
        }
        return v.intValue();
    }

    /** GBNF repetition {min,max} (max -1: unbounded). */
    private static String repeat(int min, int max) {
        if (max < 0) {
            return min == 0 ? "*" : "{" + min + ",}";
        }
        return "{" + min + "," + max + "}";
    }

    /** The GBNF string literal of a JSON value's text. */
    private static String literal(JsonNode value) {
        String json;
        try {
            json = MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cannot write " + value + " as JSON", e);
        }
        StringBuilder out = new StringBuilder("\"");
        for (int i = 0; i < json.length(); i++) {
            char c = json.charAt(i);
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        out.append(String.format("\\x%02X", (int) c));
                    } else {
                        out.append(c);
                    }
            }
        }
        return out.append('"').toString();
    }

    /** A property name as a JSON pointer token. */
    private static String pointer(String name) {
        return name.replace("~", "~0").replace("/", "~1");
    }
}
