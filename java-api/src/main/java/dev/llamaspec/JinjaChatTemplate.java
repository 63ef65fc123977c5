package dev.llamaspec;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import java.beans.FeatureDescriptor;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * A model's chat template rendered with Jinjava as Hugging Face's Python Jinja renders it (trim_blocks and
 * lstrip_blocks on, the variables chat templates use), the one class that uses Jinjava: nothing else names it
 * until {@link ChatRenderer} has seen that Jinjava is on the class path.
 *
 * <p>Variables: {@code messages} (maps with {@code role} and {@code content}), {@code add_generation_prompt},
 * {@code bos_token}, {@code eos_token} (the texts of the model's BOS and EOS tokens), {@code raise_exception(msg)},
 * {@code strftime_now(format)} (local time; defined, as templates test with {@code is defined}); {@code tools}
 * and {@code documents} are left undefined. On strings, Python's methods that templates call ({@code strip},
 * {@code lstrip}, {@code rstrip}, {@code startswith}, {@code endswith}, {@code split}, {@code rsplit},
 * {@code replace}, {@code upper}, {@code lower}, {@code title}, {@code capitalize}, {@code find},
 * {@code count}, {@code join}); the filters {@code tojson} (Python's {@code json.dumps} output),
 * {@code trim} (Python's {@code strip}) and {@code items} behave as in Python's Jinja, and Hugging Face's
 * {@code {% generation %}} tag renders its body. Known differences: a boolean or {@code none} printed as it is
 * shows as {@code true}/{@code false} and nothing, where Python writes {@code True}/{@code False}/{@code None};
 * an attribute of an undefined value is undefined, where Python fails.
 * As llama.cpp's Jinja path does, a leading BOS text is removed when the tokenizer adds BOS itself (and a
 * trailing EOS text when it adds EOS), so that a prompt does not get the token twice.
 */
final class JinjaChatTemplate {
    /** A template Jinjava cannot render: the message names the error and its line in the template. */
    static final class Unrenderable extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Unrenderable(String message) {
            super(message);
        }
    }

    /** What {@code raise_exception(msg)} throws inside Jinjava; found again in the render's errors. */
    private static final class Raised extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Raised(String message) {
            super(message, null, false, false);
        }
    }

    /** The conversation with which {@link #of} tries a template. */
    private static final List<ChatMessage> PROBE = List.of(ChatMessage.user("Hello"));

    private final JinjaSource source;
    private final String bosToken;
    private final String eosToken;
    private final boolean stripBos;
    private final boolean stripEos;

    private JinjaChatTemplate(JinjaSource source, String bosToken, String eosToken, boolean stripBos,
            boolean stripEos) {
        this.source = source;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.stripBos = stripBos;
        this.stripEos = stripEos;
    }

    /**
     * A template, tried once on a one-message conversation (a template may refuse it: that is no fault).
     *
     * @param bosToken text of the BOS token ({@code bos_token}), empty when the model has none
     * @param stripBos whether the tokenizer adds BOS itself: then a leading {@code bosToken} is removed
     * @throws Unrenderable when Jinjava cannot parse or render it, naming the error and its line
     */
    static JinjaChatTemplate of(String template, String bosToken, String eosToken, boolean stripBos,
            boolean stripEos) {
        JinjaSource source = JinjaSource.of(Objects.requireNonNull(template, "template"));
        for (JinjaSource.FilterUse f : source.filters()) {
            if (Engine.JINJAVA.getGlobalContext().getFilter(f.name()) == null) {
                throw new Unrenderable("no filter named '" + f.name() + "' (line " + f.line() + ")");
            }
        }
        JinjaChatTemplate t = new JinjaChatTemplate(source, Objects.requireNonNull(bosToken, "bosToken"),
                Objects.requireNonNull(eosToken, "eosToken"), stripBos, stripEos);
        try {
            t.render(PROBE, true);
        } catch (LlamaException refused) {
            // the template works; it does not take this conversation
        }
        return t;
    }

    /**
     * Renders a conversation.
     *
     * @throws LlamaException with {@link ErrorCode#TEMPLATE} when the template calls
     *     {@code raise_exception}, with its message
     * @throws Unrenderable when Jinjava fails on it, naming the error and its line
     */
    String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> list = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> message = new LinkedHashMap<>();
            message.put("role", m.role().wireName());
            message.put("content", m.content());
            list.add(message);
        }
        Map<String, Object> context = new HashMap<>();
        context.put("messages", list);
        context.put("add_generation_prompt", addGenerationPrompt);
        context.put("bos_token", bosToken);
        context.put("eos_token", eosToken);
        // a function is no variable to Jinjava; templates ask "strftime_now is defined" before calling it
        context.put("strftime_now", "strftime_now");
        RenderResult result = Engine.JINJAVA.renderForResult(source.text(), context);
        for (TemplateError e : result.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                for (Throwable t = e.getException(); t != null; t = t.getCause()) {
                    if (t instanceof Raised) {
                        throw new LlamaException(ErrorCode.TEMPLATE,
                                "the model's chat template refused the conversation: " + t.getMessage());
                    }
                }
            }
        }
        for (TemplateError e : result.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new Unrenderable(e.getMessage() + (e.getLineno() > 0
                        ? " (line " + e.getLineno() + ")" : ""));
            }
        }
        String text = result.getOutput();
        if (stripBos && !bosToken.isEmpty() && text.startsWith(bosToken)) {
            text = text.substring(bosToken.length());
        }
        if (stripEos && !eosToken.isEmpty() && text.endsWith(eosToken)) {
            text = text.substring(0, text.length() - eosToken.length());
        }
        return text;
    }

    /** The one Jinjava set up as Python's Jinja with Hugging Face's chat-template settings. */
    private static final class Engine {
        static final Jinjava JINJAVA = make();

        private static Jinjava make() {
            LegacyOverrides python = LegacyOverrides.newBuilder()
                    .withUseNaturalOperatorPrecedence(true) // 'a' + b | trim: the filter takes b
                    .withEvaluateMapKeys(true)
                    .withIterateOverMapKeys(true)
                    .withKeepNullableLoopValues(true)
                    .withUsePyishObjectMapper(true)
                    .build();
            CompositeELResolver resolver = new CompositeELResolver();
            resolver.add(new PythonStrings());
            resolver.add(com.hubspot.jinjava.el.JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
            // whitespace (trim_blocks, lstrip_blocks, the marks of tags) is JinjaSource's work: Jinjava gets none
            JinjavaConfig config = JinjavaConfig.newBuilder()
                    .withLegacyOverrides(python)
                    .withElResolver(resolver)
                    .build();
            Jinjava jinjava = new Jinjava(config);
            jinjava.getGlobalContext().registerFunction(
                    new ELFunctionDefinition("", "raise_exception", Engine.class, "raiseException", Object.class));
            jinjava.getGlobalContext().registerFunction(
                    new ELFunctionDefinition("", "strftime_now", Engine.class, "strftimeNow", String.class));
            jinjava.getGlobalContext().registerFilter(new ToJson());
            jinjava.getGlobalContext().registerFilter(new Trim());
            jinjava.getGlobalContext().registerFilter(new Items());
            jinjava.getGlobalContext().registerTag(new GenerationTag());
            return jinjava;
        }

        public static Object raiseException(Object message) {
            throw new Raised(String.valueOf(message));
        }

        public static String strftimeNow(String format) {
            return PythonStrftime.format(ZonedDateTime.now(), format);
        }
    }

    /** Python's string methods that chat templates call, before Jinjava looks for Java's. */
    private static final class PythonStrings extends ELResolver {
        @Override
        public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
            if (!(base instanceof String) || !(method instanceof String)) {
                return null;
            }
            Object[] args = params == null ? new Object[0] : params;
            Object result = PythonString.call((String) base, (String) method, args);
            if (result != PythonString.NO_SUCH_METHOD) {
                context.setPropertyResolved(true);
                return result;
            }
            return null;
        }

        @Override
        public Object getValue(ELContext context, Object base, Object property) {
            return null;
        }

        @Override
        public Class<?> getType(ELContext context, Object base, Object property) {
            return null;
        }

        @Override
        public void setValue(ELContext context, Object base, Object property, Object value) {
            // not ours: another resolver sets it
        }

        @Override
        public boolean isReadOnly(ELContext context, Object base, Object property) {
            return true;
        }

        @Override
        public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
            return null;
        }

        @Override
        public Class<?> getCommonPropertyType(ELContext context, Object base) {
            return null;
        }
    }

    /** {@code x | tojson} and {@code x | tojson(indent=N)}: Python's {@code json.dumps} (as Hugging Face's filter). */
    private static final class ToJson implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object indent = kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
            return PythonJson.dumps(var, indent == null ? -1 : ((Number) indent).intValue());
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, (Object[]) args, Map.of());
        }
    }

    /** {@code s | trim} and {@code s | trim(chars)}: Python's {@code str.strip}. */
    private static final class Trim implements Filter {
        @Override
        public String getName() {
            return "trim";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            return PythonString.call(var == null ? "" : var.toString(), "strip", args);
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, (Object[]) args, Map.of());
        }
    }

    /** {@code {% generation %}...{% endgeneration %}}, Hugging Face's mark of the assistant's text: its body. */
    private static final class GenerationTag implements Tag {
        private static final long serialVersionUID = 1L;

        @Override
        public String getName() {
            return "generation";
        }

        @Override
        public String getEndTagName() {
            return "endgeneration";
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            StringBuilder out = new StringBuilder();
            for (Node child : tagNode.getChildren()) {
                out.append(child.render(interpreter).getValue());
            }
            return out.toString();
        }
    }

    /** {@code d | items}: a mapping's key/value pairs. */
    private static final class Items implements Filter {
        @Override
        public String getName() {
            return "items";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            List<List<Object>> pairs = new ArrayList<>();
            if (var instanceof Map) {
                for (Map.Entry<?, ?> e : ((Map<?, ?>) var).entrySet()) {
                    pairs.add(Arrays.asList(e.getKey(), e.getValue()));
                }
            }
            return pairs;
        }
    }
}
