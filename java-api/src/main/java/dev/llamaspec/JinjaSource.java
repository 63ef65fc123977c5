package dev.llamaspec;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * A chat template's Jinja source rewritten for Jinjava, so that Jinjava renders it as Python's Jinja does
 * with Hugging Face's settings (Jinjava itself is used only by {@link JinjaChatTemplate}). Where Jinjava
 * differs on what real templates contain, the rewrite does Python's work itself:
 * <ul>
 *   <li>whitespace: Python's lexer applies {@code trim_blocks} and {@code lstrip_blocks} (on for chat
 *       templates), the {@code -} and {@code +} marks of tags and comments, and drops one newline at the end
 *       of the template; the rewrite does the same and hands Jinjava tags without marks and no comments
 *       (Jinjava's own trimming also strips before a tag in the middle of a line, and around comments);
 *   <li>string literals: Jinjava knows only the escapes {@code \\}, {@code \'} and {@code \"}; Python's
 *       ({@code \n}, {@code \t}, {@code \r}, {@code \xNN}, a backslash, u and four hex digits, octal,
 *       {@code \N{NAME}}, a backslash before a line break, ...) become the characters they stand for, and a
 *       backslash Python keeps stays one;
 *   <li>Jinjava's slices take no step: {@code x[::-1]} becomes {@code x|reverse};
 *   <li>Jinjava binds a keyword argument's {@code =} tighter than Python: {@code f(n=x|length - 1)} becomes
 *       {@code f(n=(x|length - 1))}.
 * </ul>
 * Jinjava numbers lines by the line breaks it sees outside string literals; each line break of the source
 * that the rewrite takes out, or that is inside a string literal, is put back in a comment (which renders
 * as nothing) after the tag or where the text lost it, so that Jinjava's line numbers are the source's. It also lists the filters the
 * template names: Python's Jinja refuses an unknown filter when it compiles a template, where Jinjava
 * would render it as an empty value.
 */
final class JinjaSource {
    /** A filter named in an expression, and the line of the original source it is on. */
    record FilterUse(String name, int line) {}

    private enum Kind { COMMENT, BLOCK, VARIABLE }

    private final String source;
    private final StringBuilder out = new StringBuilder();
    private final List<FilterUse> filters = new ArrayList<>();
    /** Whether the rewrite is inside a string literal, where Jinjava counts no lines. */
    private boolean inString;
    /** Line breaks of the source that Jinjava has not seen yet (see {@link #keepLines()}). */
    private int unseenLines;
    private int line = 1;
    private int pos;
    /** Where the text since the last tag starts in {@link #out}. */
    private int textStart;
    /** Whether the last tag (with what it consumed after it) ended a line: Python's {@code line_starting}. */
    private boolean lineStarting = true;

    private JinjaSource(String source) {
        // Python's lexer: every line break is \n, and one at the end is dropped (keep_trailing_newline=False)
        String s = source.replace("\r\n", "\n").replace('\r', '\n');
        this.source = s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
    }

    static JinjaSource of(String source) {
        JinjaSource s = new JinjaSource(source);
        s.rewrite();
        return s;
    }

    /** The source for Jinjava. */
    String text() {
        return out.toString();
    }

    List<FilterUse> filters() {
        return List.copyOf(filters);
    }

    private void rewrite() {
        while (pos < source.length()) {
            Kind kind = source.startsWith("{#", pos) ? Kind.COMMENT : source.startsWith("{%", pos) ? Kind.BLOCK
                    : source.startsWith("{{", pos) ? Kind.VARIABLE : null;
            if (kind == null) {
                copy(pos + 1);
                continue;
            }
            char mark = pos + 2 < source.length() ? source.charAt(pos + 2) : ' ';
            if (mark == '-') {
                stripText();
            } else if (mark != '+' && kind != Kind.VARIABLE) {
                lstripLine();
            }
            keepLines();
            boolean raw = kind == Kind.BLOCK && isRaw(pos + 2, "raw");
            char closeMark;
            if (kind == Kind.COMMENT) {
                int end = source.indexOf("#}", pos + 2);
                end = end < 0 ? source.length() : end;
                closeMark = end > pos + 2 ? source.charAt(end - 1) : ' ';
                skip(Math.min(end + 2, source.length()));
            } else {
                out.append(source, pos, pos + 2);
                pos += mark == '-' || mark == '+' ? 3 : 2;
                closeMark = expression(kind == Kind.BLOCK ? "%}" : "}}");
            }
            afterTag(kind, closeMark);
            if (raw) {
                rawText();
            }
        }
    }

    /** Python's lexer after a tag: {@code -} strips the whitespace that follows, trim_blocks one newline. */
    private void afterTag(Kind kind, char closeMark) {
        boolean endedLine = pos > 0 && source.charAt(pos - 1) == '\n';
        if (closeMark == '-') {
            while (pos < source.length() && PythonString.isSpace(source.charAt(pos))) {
                endedLine = source.charAt(pos) == '\n';
                skip(pos + 1);
            }
        } else if (closeMark != '+' && kind != Kind.VARIABLE && pos < source.length() && source.charAt(pos) == '\n') {
            skip(pos + 1);
            endedLine = true;
        } else {
            endedLine = false;
        }
        lineStarting = endedLine;
        keepLines();
        textStart = out.length();
    }

    /** Writes the line breaks Jinjava has not seen into a comment, which Jinjava counts and renders as nothing. */
    private void keepLines() {
        if (unseenLines > 0) {
            out.append("{#").append("\n".repeat(unseenLines)).append("#}");
            unseenLines = 0;
        }
    }

    /** A tag's {@code -} before it: the text since the last tag loses its trailing whitespace. */
    private void stripText() {
        while (out.length() > textStart && PythonString.isSpace(out.charAt(out.length() - 1))) {
            unemit();
        }
    }

    /** lstrip_blocks: spaces alone on the line before a block tag or comment are dropped. */
    private void lstripLine() {
        int lineStart = out.lastIndexOf("\n", out.length() - 1) + 1;
        if (lineStart <= textStart) {
            if (!lineStarting) {
                return;
            }
            lineStart = textStart;
        }
        for (int i = lineStart; i < out.length(); i++) {
            if (!PythonString.isSpace(out.charAt(i))) {
                return;
            }
        }
        while (out.length() > lineStart) {
            unemit();
        }
    }

    /** Whether the tag whose content starts at {@code at} is {@code word} (raw, endraw). */
    private boolean isRaw(int at, String word) {
        int i = at;
        if (i < source.length() && (source.charAt(i) == '-' || source.charAt(i) == '+')) {
            i++;
        }
        while (i < source.length() && Character.isWhitespace(source.charAt(i))) {
            i++;
        }
        if (!source.startsWith(word, i)) {
            return false;
        }
        i += word.length();
        while (i < source.length() && Character.isWhitespace(source.charAt(i))) {
            i++;
        }
        if (i < source.length() && (source.charAt(i) == '-' || source.charAt(i) == '+')) {
            i++;
        }
        return source.startsWith("%}", i);
    }

    /** The text of a raw block, as it is, up to its endraw tag. */
    private void rawText() {
        while (pos < source.length() && !(source.startsWith("{%", pos) && isRaw(pos + 2, "endraw"))) {
            copy(pos + 1);
        }
    }

    /**
     * Copies a tag's expression through {@code close} (written without its mark), rewriting it; answers
     * the mark before {@code close} ({@code -}, {@code +} or a space).
     */
    private char expression(String close) {
        // open brackets; for each, whether the value of a keyword argument is being wrapped in parentheses
        ArrayDeque<Character> brackets = new ArrayDeque<>();
        ArrayDeque<Boolean> wrapping = new ArrayDeque<>();
        boolean argumentStart = false; // just after '(' or ',' inside parentheses
        while (pos < source.length()) {
            char c = source.charAt(pos);
            if (brackets.isEmpty() && (c == '-' || c == '+') && source.startsWith(close, pos + 1)) {
                pos += 1 + close.length();
                out.append(close);
                return c;
            } else if (brackets.isEmpty() && source.startsWith(close, pos)) {
                copy(pos + close.length());
                return ' ';
            } else if (c == '\'' || c == '"') {
                string(c);
                argumentStart = false;
            } else if (source.startsWith("[::-1]", pos)) {
                out.append("|reverse");
                pos += 6;
                argumentStart = false;
            } else if (c == '(' || c == '[' || c == '{') {
                brackets.push(c);
                wrapping.push(false);
                copy(pos + 1);
                argumentStart = c == '(';
            } else if ((c == ')' || c == ']' || c == '}') && !brackets.isEmpty()) {
                endArgument(brackets, wrapping);
                brackets.pop();
                wrapping.pop();
                copy(pos + 1);
                argumentStart = false;
            } else if (c == ',' && !brackets.isEmpty()) {
                endArgument(brackets, wrapping);
                copy(pos + 1);
                argumentStart = brackets.peek() == '(';
            } else if (argumentStart && (Character.isLetter(c) || c == '_')) {
                int end = identifierEnd(pos);
                int eq = end;
                while (eq < source.length() && source.charAt(eq) == ' ') {
                    eq++;
                }
                copy(end);
                if (source.startsWith("=", eq) && !source.startsWith("==", eq)) {
                    // name=value: Jinjava binds '=' tighter than Python does (n=x|length - 1)
                    copy(eq + 1);
                    out.append('(');
                    wrapping.pop();
                    wrapping.push(true);
                }
                argumentStart = false;
            } else if (c == '|') {
                copy(pos + 1);
                int start = pos;
                while (start < source.length() && Character.isWhitespace(source.charAt(start))) {
                    start++;
                }
                int end = identifierEnd(start);
                if (end > start) {
                    filters.add(new FilterUse(source.substring(start, end), line));
                }
            } else {
                if (!Character.isWhitespace(c)) {
                    argumentStart = false;
                }
                copy(pos + 1);
            }
        }
        return ' ';
    }

    /** Closes the parenthesis around a keyword argument's value, if one is open at this bracket. */
    private void endArgument(ArrayDeque<Character> brackets, ArrayDeque<Boolean> wrapping) {
        if (brackets.peek() == '(' && wrapping.peek()) {
            out.append(')');
            wrapping.pop();
            wrapping.push(false);
        }
    }

    private int identifierEnd(int start) {
        int end = start;
        while (end < source.length() && (Character.isLetterOrDigit(source.charAt(end)) || source.charAt(end) == '_')) {
            end++;
        }
        return end;
    }

    /** Copies a string literal, its Python escapes as Jinjava reads them. */
    private void string(char quote) {
        copy(pos + 1);
        inString = true;
        while (pos < source.length() && source.charAt(pos) != quote) {
            char c = source.charAt(pos);
            if (c != '\\' || pos + 1 == source.length()) {
                copy(pos + 1);
                continue;
            }
            char e = source.charAt(pos + 1);
            pos += 2;
            switch (e) {
                case 'n': emit('\n'); break;
                case 't': emit('\t'); break;
                case 'r': emit('\r'); break;
                case 'f': emit('\f'); break;
                case 'v': emit('\u000B'); break;
                case 'a': emit('\u0007'); break;
                case 'b': emit('\b'); break;
                case '\n': // a line continuation: nothing
                    line++;
                    unseenLines++;
                    break;
                case 'x': hexCodePoint(2, e); break;
                case 'u': hexCodePoint(4, e); break;
                case 'U': hexCodePoint(8, e); break;
                case 'N': namedCodePoint(); break;
                case '\\': out.append("\\\\"); break;
                case '\'':
                case '"':
                    out.append(e == quote ? "\\" : "").append(e);
                    break;
                default:
                    if (e >= '0' && e <= '7') {
                        int end = pos - 1;
                        while (end < source.length() && end < pos + 2 && source.charAt(end) >= '0'
                                && source.charAt(end) <= '7') {
                            end++;
                        }
                        emit((char) Integer.parseInt(source.substring(pos - 1, end), 8));
                        pos = end;
                    } else {
                        out.append("\\\\"); // Python keeps an unknown escape's backslash
                        pos--;
                    }
            }
        }
        inString = false;
        if (pos < source.length()) {
            copy(pos + 1);
        }
    }

    /** A character given by hex digits ({@code x}: 2, {@code u}: 4, {@code U}: 8); else a backslash and the letter. */
    private void hexCodePoint(int digits, char letter) {
        if (pos + digits <= source.length()) {
            try {
                int cp = Integer.parseUnsignedInt(source.substring(pos, pos + digits), 16);
                if (Character.isValidCodePoint(cp)) {
                    out.appendCodePoint(cp);
                    pos += digits;
                    return;
                }
            } catch (NumberFormatException ignored) {
                // not hexadecimal: Python would refuse the template; Jinjava then sees a backslash
            }
        }
        out.append("\\\\").append(letter);
    }

    /** {@code \N{NAME}}: the Unicode character of that name; else a backslash and N. */
    private void namedCodePoint() {
        int end = source.indexOf('}', pos);
        if (source.startsWith("{", pos) && end > pos) {
            try {
                out.appendCodePoint(Character.codePointOf(source.substring(pos + 1, end)));
                pos = end + 1;
                return;
            } catch (IllegalArgumentException ignored) {
                // no such name
            }
        }
        out.append("\\\\N");
    }

    /** Appends a character the rewrite makes (in a string literal: no line of Jinjava's). */
    private void emit(char c) {
        out.append(c);
    }

    /** Takes back the last character of the text since the last tag. */
    private void unemit() {
        if (out.charAt(out.length() - 1) == '\n') {
            unseenLines++;
        }
        out.setLength(out.length() - 1);
    }

    /** Copies the source up to {@code end}, counting its lines. */
    private void copy(int end) {
        for (; pos < end; pos++) {
            char c = source.charAt(pos);
            out.append(c);
            if (c == '\n') {
                line++;
                if (inString) {
                    unseenLines++;
                }
            }
        }
    }

    /** Passes over the source up to {@code end}, counting its lines. */
    private void skip(int end) {
        for (; pos < end; pos++) {
            if (source.charAt(pos) == '\n') {
                line++;
                unseenLines++;
            }
        }
    }
}
