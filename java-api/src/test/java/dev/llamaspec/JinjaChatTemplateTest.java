package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Our Jinja path against Python's Jinja (3.1.6) set up as Hugging Face sets it up for chat templates
 * (ImmutableSandboxedEnvironment, trim_blocks and lstrip_blocks on, its tojson filter): each expected text
 * below is what Python rendered for the template beside it, with {@link #MESSAGES}. The cases are the places
 * where Jinjava differs from Python's Jinja by itself (see {@link JinjaSource}) and the Python methods and
 * filters templates use. No model is needed.
 */
class JinjaChatTemplateTest {
    private static final List<ChatMessage> MESSAGES = List.of(ChatMessage.system("Be brief."),
            ChatMessage.user("  Hi  there \n"), ChatMessage.assistant("<think>\nhmm\n</think>\n\nHello!"));

    private static final String[][] PYTHON = {
        {"{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n",
            "  system\n  user\n  assistant\n"},
        {"a\n  {% if true %}\n  b\n  {% endif %}\nc",
            "a\n  b\nc"},
        {"x {% if true %}y{% endif %} {# note #} z\n",
            "x y  z"},
        {"{{ 'a' }}  \n  {%- if true -%}  x  {%- endif -%}  \n  y",
            "axy"},
        {"  {%+ if true %}\nA{% endif +%}\nB",
            "  A\nB"},
        {"a\n\n{#- c -#}\n\nb\n\n",
            "ab\n"},
        {"{%- set a = 1 -%}\n\n  {{- a }}\n  {%+ if true -%}\n q \n{%- endif +%}\n\nz\n\n",
            "1\n  q\n\nz\n"},
        {"{% raw %} {{ x }} {%- endraw %} z",
            " {{ x }} z"},
        {"line\r\n  {% if true %}\r\nwin\r\n  {% endif %}\r\nend\r\n",
            "line\nwin\nend"},
        {"{{ 'x\\x41\\u00e9\\101\\d\\N{BULLET}y' }}|{{ \"tab\\there\" }}|{{ 'a\\\nb' }}|{{ 'it\\'s' }}|{{ \"say \\\"hi\\\"\" }}|{{ '\\\\n' }}|{{ \"it\\'s\" }}",
            "xAéA\\d•y|tab\there|ab|it's|say \"hi\"|\\n|it's"},
        {"{% set ns = namespace(last=messages|length - 1, found=false) %}{% for m in messages[::-1] %}{% if m.role == 'user' and not ns.found %}{% set ns.found = true %}{% set ns.last = (messages|length - 1) - loop.index0 %}{% endif %}{% endfor %}{{ ns.last }}",
            "1"},
        {"{{ '<|' + messages[1].role + '|>' + messages[1].content | trim + '<|end|>' }}",
            "<|user|>Hi  there<|end|>"},
        {"{{ messages[2].content.split('</think>')[-1].lstrip('\\n') }}|{{ messages[2].content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}",
            "Hello!|hmm"},
        {"{{ ' a b  c '.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ ' a b c '.split(none, 1) }}",
            "['a', 'b', 'c']|['a', 'b', '', 'c']|['a', 'b,c']|['a,b', 'c']|['a', 'b c ']"},
        {"{{ '  x  '.lstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'a-b-c'.replace('-', '+', 1) }}",
            "x  |hi|Hello World|Hello|a+b-c"},
        {"{{ 'y' if messages[1].content.startswith(('x', '  H')) else 'n' }}{{ 'y' if 'abc'.endswith('bc') else 'n' }}|{{ 'banana'.count('an') }}|{{ 'banana'.find('na') }}|{{ '-'.join(['a', 'b']) }}|{{ 'Ab'.upper() }}{{ 'Ab'.lower() }}",
            "yy|2|2|a-b|ABab"},
        {"{{ messages[0] | tojson }}\n{{ messages[0] | tojson(indent=2) }}\n{{ {'k': [1, 2.5, none, true, 'é\\n\"\\\\']} | tojson }}",
            "{\"role\": \"system\", \"content\": \"Be brief.\"}\n{\n  \"role\": \"system\",\n  \"content\": \"Be brief.\"\n}\n{\"k\": [1, 2.5, null, true, \"é\\n\\\"\\\\\"]}"},
        {"{% for k, v in messages[0] | items %}{{ k }}={{ v }};{% endfor %}",
            "role=system;content=Be brief.;"},
    };

    @Test
    void rendersAsPythonsJinja() {
        for (String[] c : PYTHON) {
            assertEquals(c[1], JinjaChatTemplate.of(c[0], "<s>", "</s>", false, false).render(MESSAGES, true), c[0]);
        }
    }

    @Test
    void leavesOutTheBosTextWhenTheTokenizerAddsBos() {
        String template = "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}";
        assertEquals("<s>Be brief.</s>", JinjaChatTemplate.of(template, "<s>", "</s>", false, false).render(MESSAGES, true));
        assertEquals("Be brief.</s>", JinjaChatTemplate.of(template, "<s>", "</s>", true, false).render(MESSAGES, true));
        assertEquals("Be brief.", JinjaChatTemplate.of(template, "<s>", "</s>", true, true).render(MESSAGES, true));
        assertEquals("Be brief.", JinjaChatTemplate.of(template, "", "", true, true).render(MESSAGES, true));
    }

    @Test
    void namesTheLineOfAnError() {
        // line breaks inside string literals, a line continuation, whitespace control and a comment before it
        String template = "x\n{{ \"a\\\nb\" ~ \"c\nd\" }}\n{%- if true -%}\n\n{# c\n #}\n  {% set y = foo(1) %}{% endif %}\n";
        JinjaChatTemplate.Unrenderable e = assertThrows(JinjaChatTemplate.Unrenderable.class,
                () -> JinjaChatTemplate.of(template, "<s>", "</s>", false, false));
        assertEquals("Could not resolve function 'foo' (line 9)", e.getMessage());
        e = assertThrows(JinjaChatTemplate.Unrenderable.class,
                () -> JinjaChatTemplate.of("a\n\n{% for m in messages %}\n{{ m | upper }}", "", "", false, false));
        assertEquals("Syntax error in '{% for m in messages %}': Missing end tag: endfor for tag defined as: "
                + "{% for m in messages %} (line 3)", e.getMessage());
    }

    @Test
    void strftimeNowAsPython() {
        String format = "%a %A %d %b %B %m %y %Y %H %I %M %S %p %j %% %-d %-m";
        // Python: datetime(2024, 7, 6, 15, 4, 5).strftime(format), and datetime(2024, 1, 2, 0, 9, 5)
        assertEquals("Sat Saturday 06 Jul July 07 24 2024 15 03 04 05 PM 188 % 6 7",
                PythonStrftime.format(ZonedDateTime.of(2024, 7, 6, 15, 4, 5, 0, ZoneOffset.UTC), format));
        assertEquals("Tue Tuesday 02 Jan January 01 24 2024 00 12 09 05 AM 002 % 2 1",
                PythonStrftime.format(ZonedDateTime.of(2024, 1, 2, 0, 9, 5, 0, ZoneOffset.UTC), format));
    }
}
