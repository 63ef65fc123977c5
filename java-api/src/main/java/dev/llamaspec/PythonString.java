package dev.llamaspec;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * Python's string methods that chat templates call ({@code content.strip()},
 * {@code content.split('</think>')[-1]}, {@code content.startswith('<tool_response>')}, ...), with Python's
 * meaning: whitespace as {@code str.isspace} sees it, {@code split} on text and not on a regular expression.
 */
final class PythonString {
    /** What {@link #call} answers for a method (or number of arguments) it does not have. */
    static final Object NO_SUCH_METHOD = new Object();

    private PythonString() {}

    /**
     * {@code s.method(args)}, or {@link #NO_SUCH_METHOD}. Arguments are Jinja's values: strings, numbers,
     * {@code null} for {@code none}, lists for tuples.
     */
    static Object call(String s, String method, Object[] args) {
        int n = args.length;
        switch (method) {
            case "strip":
            case "lstrip":
            case "rstrip":
                if (n > 1 || (n == 1 && args[0] != null && !(args[0] instanceof String))) {
                    return NO_SUCH_METHOD;
                }
                return strip(s, n == 0 ? null : (String) args[0], !method.equals("rstrip"), !method.equals("lstrip"));
            case "startswith":
            case "endswith":
                if (n != 1) {
                    return NO_SUCH_METHOD;
                }
                for (Object affix : args[0] instanceof List ? (List<?>) args[0] : List.of(args[0])) {
                    String a = String.valueOf(affix);
                    if (method.equals("startswith") ? s.startsWith(a) : s.endsWith(a)) {
                        return true;
                    }
                }
                return false;
            case "split":
            case "rsplit":
                if (n > 2 || (n >= 1 && args[0] != null && !(args[0] instanceof String))
                        || (n == 2 && !(args[1] instanceof Number))) {
                    return NO_SUCH_METHOD;
                }
                return split(s, n == 0 ? null : (String) args[0], n == 2 ? ((Number) args[1]).intValue() : -1,
                        method.equals("rsplit"));
            case "replace":
                if (n < 2 || n > 3 || !(args[0] instanceof String) || !(args[1] instanceof String)
                        || (n == 3 && (!(args[2] instanceof Number) || ((String) args[0]).isEmpty()))) {
                    return NO_SUCH_METHOD;
                }
                return replace(s, (String) args[0], (String) args[1], n == 3 ? ((Number) args[2]).intValue() : -1);
            case "upper":
                return n == 0 ? s.toUpperCase(Locale.ROOT) : NO_SUCH_METHOD;
            case "lower":
                return n == 0 ? s.toLowerCase(Locale.ROOT) : NO_SUCH_METHOD;
            case "title":
                return n == 0 ? title(s) : NO_SUCH_METHOD;
            case "capitalize":
                return n != 0 ? NO_SUCH_METHOD : s.isEmpty() ? s
                        : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
            case "find":
                return n == 1 && args[0] instanceof String ? (long) s.indexOf((String) args[0]) : NO_SUCH_METHOD;
            case "count":
                return n == 1 && args[0] instanceof String ? count(s, (String) args[0]) : NO_SUCH_METHOD;
            case "join":
                return n == 1 && args[0] instanceof Iterable ? join(s, (Iterable<?>) args[0]) : NO_SUCH_METHOD;
            default:
                return NO_SUCH_METHOD;
        }
    }

    /** {@code str.isspace} for one character. */
    static boolean isSpace(char c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085';
    }

    private static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end && stripped(s.charAt(start), chars)) {
            start++;
        }
        while (right && end > start && stripped(s.charAt(end - 1), chars)) {
            end--;
        }
        return s.substring(start, end);
    }

    private static boolean stripped(char c, String chars) {
        return chars == null ? isSpace(c) : chars.indexOf(c) >= 0;
    }

    private static List<String> split(String s, String sep, int max, boolean fromRight) {
        if (sep != null && sep.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        List<String> parts = new ArrayList<>();
        if (sep == null) {
            // runs of whitespace separate; no empty strings
            List<int[]> words = new ArrayList<>();
            int i = 0;
            while (i < s.length()) {
                while (i < s.length() && isSpace(s.charAt(i))) {
                    i++;
                }
                int start = i;
                while (i < s.length() && !isSpace(s.charAt(i))) {
                    i++;
                }
                if (i > start) {
                    words.add(new int[] {start, i});
                }
            }
            int cuts = max < 0 ? words.size() : Math.min(max + 1, words.size());
            boolean rest = cuts < words.size(); // the last part is the rest of the text, as it is
            if (!fromRight) {
                for (int w = 0; w < cuts; w++) {
                    int[] word = words.get(w);
                    parts.add(s.substring(word[0], rest && w == cuts - 1 ? s.length() : word[1]));
                }
            } else {
                for (int w = words.size() - cuts; w < words.size(); w++) {
                    int[] word = words.get(w);
                    parts.add(s.substring(rest && w == words.size() - cuts ? 0 : word[0], word[1]));
                }
            }
            return parts;
        }
        if (!fromRight) {
            int start = 0;
            int at;
            while ((max < 0 || parts.size() < max) && (at = s.indexOf(sep, start)) >= 0) {
                parts.add(s.substring(start, at));
                start = at + sep.length();
            }
            parts.add(s.substring(start));
            return parts;
        }
        int end = s.length();
        int at;
        while ((max < 0 || parts.size() < max) && (at = s.lastIndexOf(sep, end - sep.length())) >= 0) {
            parts.add(s.substring(at + sep.length(), end));
            end = at;
        }
        parts.add(s.substring(0, end));
        Collections.reverse(parts);
        return parts;
    }

    private static String replace(String s, String old, String replacement, int max) {
        if (max < 0) {
            return s.replace(old, replacement); // also Python's answer for an empty old
        }
        StringBuilder out = new StringBuilder();
        int start = 0;
        for (int done = 0, at; done < max && (at = s.indexOf(old, start)) >= 0; done++) {
            out.append(s, start, at).append(replacement);
            start = at + old.length();
        }
        return out.append(s.substring(start)).toString();
    }

    private static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean inWord = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            out.append(inWord ? Character.toLowerCase(c) : Character.toUpperCase(c));
            inWord = Character.isLetter(c);
        }
        return out.toString();
    }

    private static long count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.length() + 1L;
        }
        long n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    private static String join(String sep, Iterable<?> items) {
        StringBuilder out = new StringBuilder();
        boolean first = true;
        for (Object item : items) {
            out.append(first ? "" : sep).append(item);
            first = false;
        }
        return out.toString();
    }
}
