package dev.llamaspec;

import java.lang.reflect.Array;
import java.math.BigDecimal;
import java.util.Locale;
import java.util.Map;

/**
 * JSON as Python's {@code json.dumps(value, ensure_ascii=False, indent=indent)} writes it, which is what
 * Hugging Face's {@code tojson} filter gives chat templates: {@code ", "} and {@code ": "} between items
 * on one line, or one item a line with {@code indent}; non-ASCII characters as they are.
 */
final class PythonJson {
    private PythonJson() {}

    /** @param indent spaces per level, or negative for one line */
    static String dumps(Object value, int indent) {
        StringBuilder out = new StringBuilder();
        write(out, value, indent, 0);
        return out.toString();
    }

    private static void write(StringBuilder out, Object value, int indent, int depth) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof Boolean) {
            out.append((boolean) value ? "true" : "false");
        } else if (value instanceof Double || value instanceof Float) {
            out.append(number(((Number) value).doubleValue()));
        } else if (value instanceof Number) {
            out.append(value);
        } else if (value instanceof Map) {
            Map<?, ?> map = (Map<?, ?>) value;
            out.append('{');
            int i = 0;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                separate(out, i++, indent, depth + 1);
                string(out, String.valueOf(e.getKey()));
                out.append(": ");
                write(out, e.getValue(), indent, depth + 1);
            }
            close(out, i, indent, depth, '}');
        } else if (value instanceof Iterable || value.getClass().isArray()) {
            out.append('[');
            int i = 0;
            if (value instanceof Iterable) {
                for (Object item : (Iterable<?>) value) {
                    separate(out, i++, indent, depth + 1);
                    write(out, item, indent, depth + 1);
                }
            } else {
                for (; i < Array.getLength(value); i++) {
                    separate(out, i, indent, depth + 1);
                    write(out, Array.get(value, i), indent, depth + 1);
                }
            }
            close(out, i, indent, depth, ']');
        } else {
            string(out, value.toString());
        }
    }

    /** What goes before item {@code i} of a list or mapping. */
    private static void separate(StringBuilder out, int i, int indent, int depth) {
        if (i > 0) {
            out.append(indent < 0 ? ", " : ",");
        }
        if (indent >= 0) {
            out.append('\n').append(" ".repeat(indent * depth));
        }
    }

    private static void close(StringBuilder out, int items, int indent, int depth, char bracket) {
        if (items > 0 && indent >= 0) {
            out.append('\n').append(" ".repeat(indent * depth));
        }
        out.append(bracket);
    }

    private static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                case '\b': out.append("\\b"); break;
                case '\f': out.append("\\f"); break;
                default:
                    if (c < 0x20) {
                        out.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
            }
        }
        out.append('"');
    }

    /** Python's repr of a float: {@code 1.0}, {@code 1e-05}, {@code Infinity}, {@code NaN}. */
    private static String number(double d) {
        if (Double.isNaN(d)) {
            return "NaN";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "Infinity" : "-Infinity";
        }
        String s = Double.toString(d);
        int e = s.indexOf('E');
        if (e < 0) {
            return s;
        }
        String mantissa = s.substring(0, e).replaceAll("\\.0$", "");
        int exponent = Integer.parseInt(s.substring(e + 1));
        if (exponent >= -4 && exponent < 16) {
            String plain = new BigDecimal(s).stripTrailingZeros().toPlainString();
            return plain.contains(".") ? plain : plain + ".0";
        }
        return mantissa + "e" + (exponent < 0 ? "-" : "+") + String.format(Locale.ROOT, "%02d", Math.abs(exponent));
    }
}
