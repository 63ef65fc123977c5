package dev.llamaspec.examples.cli;

import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaException;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.Speculation;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.PositionalParamSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * The command-line convention of the llamaspec programs (the chat, generate, PlainBench, SpecBench and
 * Soak):
 *
 * <ul>
 *   <li>every error message starts with {@code error: } and names the flag;
 *   <li>exit code 0 done; 1 a failure: a file given on the command line that is not there (or is a
 *       directory), a file that exists but cannot be loaded, generation; 2 bad arguments (picocli's
 *       {@link ParameterException}, followed by the usage hint): a value that is not a number, out of its
 *       range or not one of the choices, an unknown option, an argument too many, and no {@code --model}
 *       given where the default model file is not there;
 *   <li>{@code -h}/{@code --help} with the defaults, {@code --version} (the program jar's version);
 *   <li>{@code --seed -1} means a random seed;
 *   <li>a context size that llama.cpp changed is said.
 * </ul>
 *
 * <p>Values that the library defines (its defaults, the context size range, the strategies' names) are
 * not repeated in the programs: their options and help texts name them as picocli variables
 * {@code ${bundle:KEY}}, which {@link LibraryValues} reads from the library when they are used.
 */
public final class CliSupport {
    /**
     * The library's logger ({@code dev.llamaspec}); held here because java.util.logging keeps its loggers
     * weakly, and a level set on a lost one is lost.
     */
    public static final java.util.logging.Logger LIBRARY_LOG = java.util.logging.Logger.getLogger("dev.llamaspec");

    public static final int FAILURE = 1;
    public static final int BAD_ARGUMENTS = 2;
    public static final String USAGE_HINT = "run with --help for the options";

    /** The largest seed: the library keeps 2^32 - 1 for "random". */
    public static final long MAX_SEED = GenerationOptions.RANDOM_SEED - 1;
    public static final String SEED_HELP = "sampling seed, 0 to " + MAX_SEED + " (the same seed and settings give the"
            + " same text); -1 or no --seed: a random seed";
    /** llama.cpp (0.7.0, one unified KV cache) rounds a context size up to a multiple of this. */
    public static final int CONTEXT_ROUNDING = 256;
    public static final String CTX_HELP = "context size in tokens, ${bundle:SessionOptions.minContextSize} to"
            + " ${bundle:SessionOptions.maxContextSize}, or 0 for the model's training context (at most 4096);"
            + " llama.cpp rounds it up to a multiple of " + CONTEXT_ROUNDING + ", so " + CONTEXT_ROUNDING + " is the"
            + " smallest context, and the size used is shown when it differs (default: ${DEFAULT-VALUE})";

    private CliSupport() {}

    /** A failure (exit code 1) whose message already says what failed, the flag first. */
    public static final class Failure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public Failure(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * A picocli command line with the convention's handlers and {@link LibraryValues}: bad arguments print
     * {@code error: MESSAGE} and the usage hint and exit with 2; a {@link Failure} or {@link LlamaException}
     * prints {@code error: MESSAGE} and exits with 1 (an {@link IllegalArgumentException} from the library
     * is a bad argument: 2). The library's own INFO lines (where a model runs) stay out of the program's
     * stderr, which the programs keep for their own lines ({@link #LIBRARY_LOG}).
     */
    public static CommandLine commandLine(Object command, PrintStream out, PrintStream err) {
        LIBRARY_LOG.setLevel(java.util.logging.Level.WARNING);
        CommandLine cli = new CommandLine(command);
        cli.setResourceBundle(LibraryValues.INSTANCE);
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        cli.setParameterExceptionHandler((ex, arguments) -> {
            PrintWriter w = ex.getCommandLine().getErr();
            w.println("error: " + message(ex));
            UnmatchedArgumentException.printSuggestions(ex, w);
            w.println(USAGE_HINT);
            w.flush();
            return BAD_ARGUMENTS;
        });
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            PrintWriter w = commandLine.getErr();
            int code = FAILURE;
            if (ex instanceof Failure || ex instanceof LlamaException) {
                w.println("error: " + ex.getMessage());
            } else if (ex instanceof IllegalArgumentException) {
                w.println("error: " + ex.getMessage());
                w.println(USAGE_HINT);
                code = BAD_ARGUMENTS;
            } else {
                w.println("error: " + ex);
            }
            w.flush();
            return code;
        });
        return cli;
    }

    /** picocli's message, except for arguments left over: those are named with what the program takes. */
    private static String message(ParameterException ex) {
        if (ex instanceof UnmatchedArgumentException u && !u.isUnknownOption() && !u.getUnmatched().isEmpty()) {
            List<String> unmatched = u.getUnmatched();
            CommandSpec spec = ex.getCommandLine().getCommandSpec();
            List<PositionalParamSpec> positional = spec.positionalParameters();
            String takes = positional.isEmpty() ? "takes no arguments besides its options"
                    : "takes at most " + positional.stream().map(p -> p.arity().max() == 1 ? "one " + p.paramLabel()
                            : p.arity().max() + " " + p.paramLabel()).collect(Collectors.joining(" and "))
                            + " (quote an argument that has spaces)";
            return "unexpected argument" + (unmatched.size() == 1 ? " " : "s ")
                    + unmatched.stream().map(a -> "'" + a + "'").collect(Collectors.joining(" ")) + ": "
                    + spec.qualifiedName() + " " + takes;
        }
        return ex.getMessage();
    }

    /** A bad argument (exit code 2) with this message. */
    public static ParameterException bad(CommandSpec spec, String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /**
     * The library's message for a value out of range ({@code "topP must be in (0.0, 1.0], got 0.0"})
     * with the flag in place of the Java property it starts with ({@code "--top-p must be in ..."});
     * {@code flags} maps properties to flags. A message that starts with none of them is kept.
     */
    public static String flagMessage(IllegalArgumentException e, Map<String, String> flags) {
        String message = String.valueOf(e.getMessage());
        int space = message.indexOf(' ');
        String flag = space > 0 ? flags.get(message.substring(0, space)) : null;
        return flag == null ? message : flag + message.substring(space);
    }

    /** An int flag's value must be in [min, max]. */
    public static int range(CommandSpec spec, String flag, int value, int min, int max) {
        if (value < min || value > max) {
            throw bad(spec, flag + " must be in [" + min + ", " + max + "], got " + value);
        }
        return value;
    }

    /** A number flag's value must be finite and at least {@code min} ({@code inclusive}) or above it. */
    public static double atLeast(CommandSpec spec, String flag, double value, double min, boolean inclusive) {
        if (!Double.isFinite(value) || value < min || !inclusive && value == min) {
            throw bad(spec, flag + " must be " + (inclusive ? "at least " : "greater than ")
                    + BigDecimal.valueOf(min).stripTrailingZeros().toPlainString() + ", got " + value);
        }
        return value;
    }

    /** {@code --seed}: null or -1 is a random seed, else it must be in [0, {@link #MAX_SEED}]. */
    public static long seed(CommandSpec spec, Long seed) {
        if (seed == null || seed == -1) {
            return GenerationOptions.RANDOM_SEED;
        }
        if (seed < 0 || seed > MAX_SEED) {
            throw bad(spec, "--seed must be in [0, " + MAX_SEED + "], or -1 for a random seed, got " + seed);
        }
        return seed;
    }

    /** What is wrong with a path that must name an existing file, or null when nothing is. */
    public static String fileProblem(Path path) {
        if (Files.isDirectory(path)) {
            return "is a directory, not a file";
        }
        if (!Files.exists(path)) {
            return "no such file";
        }
        return null;
    }

    /** {@code --flag PATH: no such file}, or null when the file is there. */
    public static String missingFile(String flag, Path path) {
        String problem = fileProblem(path);
        return problem == null ? null : flag + " " + path + ": " + problem;
    }

    /**
     * A path given for {@code flag} (null: none given) must be an existing file: else a {@link Failure}
     * ({@code --flag PATH: no such file}, exit code 1).
     */
    public static void requireFile(String flag, Path path) {
        String message = path == null ? null : missingFile(flag, path);
        if (message != null) {
            throw new Failure(message, null);
        }
    }

    /** A file that exists but could not be loaded: the library's message after the flag. */
    public static Failure loadFailure(String flag, RuntimeException e) {
        return new Failure(flag + ": " + e.getMessage(), e);
    }

    /**
     * What to say when llama.cpp made the context another size than {@code --ctx} asked for, or null
     * when it did not (or none was asked for).
     */
    public static String contextNote(int requested, int actual) {
        if (requested == 0 || requested == actual) {
            return null;
        }
        return String.format(Locale.ROOT, "--ctx %d: the context is %d tokens (llama.cpp rounds the context size up"
                + " to a multiple of %d)", requested, actual, CONTEXT_ROUNDING);
    }

    /** {@code --version}: the version of the program's jar, and the Java runtime. */
    public static final class Version implements IVersionProvider {
        @Spec
        CommandSpec spec;

        @Override
        public String[] getVersion() {
            Class<?> program = spec != null && spec.userObject() != null ? spec.userObject().getClass()
                    : CliSupport.class;
            String version = program.getPackage().getImplementationVersion();
            return new String[] {"${COMMAND-FULL-NAME} " + (version != null ? version : "(development build)"),
                "Java ${java.version} (${java.vendor}) on ${os.name} ${os.arch}"};
        }
    }

    /**
     * The library's values for the programs' options and help texts, as picocli reads them through
     * {@code ${bundle:KEY}} ({@link #commandLine} sets this bundle on every command line), e.g.
     * {@code defaultValue = "${bundle:GenerationOptions.temperature}"}. The keys are named after the API
     * they come from:
     *
     * <ul>
     *   <li>{@code GenerationOptions.temperature}, {@code .topK}, {@code .topP}, {@code .minP},
     *       {@code .repeatPenalty}, {@code .maxTokens}: {@link GenerationOptions#defaults()}'s;
     *   <li>{@code SessionOptions.threads}, {@code .contextSize}: {@link SessionOptions#defaults()}'s;
     *       {@code SessionOptions.minContextSize}, {@code .maxContextSize}: the context size range;
     *   <li>{@code Speculation.names}: the strategies' canonical names ({@link Speculation.Kind}), comma
     *       separated; {@code Speculation.maxDraftTokens}, {@code Speculation.lookahead} (w,n,g),
     *       {@code Speculation.typicalThreshold}, {@code Speculation.typicalAlpha}: the engine's defaults.
     * </ul>
     *
     * <p>Each value is read when first used (reading loads the native library). When the library cannot
     * be loaded the key has no value: picocli then shows "null", and the program fails at its first use of
     * the library with the library's message.
     */
    public static final class LibraryValues extends java.util.ResourceBundle {
        public static final LibraryValues INSTANCE = new LibraryValues();

        private final Map<String, Supplier<Object>> values = new LinkedHashMap<>();
        private final Map<String, String> read = new ConcurrentHashMap<>();

        private LibraryValues() {
            values.put("GenerationOptions.temperature", () -> GenerationOptions.defaults().temperature());
            values.put("GenerationOptions.topK", () -> GenerationOptions.defaults().topK());
            values.put("GenerationOptions.topP", () -> GenerationOptions.defaults().topP());
            values.put("GenerationOptions.minP", () -> GenerationOptions.defaults().minP());
            values.put("GenerationOptions.repeatPenalty", () -> GenerationOptions.defaults().repeatPenalty());
            values.put("GenerationOptions.maxTokens", () -> GenerationOptions.defaults().maxTokens());
            values.put("SessionOptions.threads", () -> SessionOptions.defaults().threads());
            values.put("SessionOptions.contextSize", () -> SessionOptions.defaults().contextSize());
            values.put("SessionOptions.minContextSize", SessionOptions::minContextSize);
            values.put("SessionOptions.maxContextSize", SessionOptions::maxContextSize);
            values.put("Speculation.names", () -> Arrays.stream(Speculation.Kind.values())
                    .map(Speculation.Kind::canonicalName).collect(Collectors.joining(", ")));
            values.put("Speculation.maxDraftTokens", () -> Speculation.none().maxDraftTokens());
            values.put("Speculation.lookahead", () -> {
                Speculation.Lookahead l = Speculation.lookahead();
                return l.windowWidth() + "," + l.ngramSize() + "," + l.maxCandidates();
            });
            values.put("Speculation.typicalThreshold",
                    () -> Speculation.none().withLossyTypicalAcceptance().typicalThreshold());
            values.put("Speculation.typicalAlpha",
                    () -> Speculation.none().withLossyTypicalAcceptance().typicalAlpha());
        }

        /** The value of {@code key} as text, or null for another key or when the library cannot be loaded. */
        public String value(String key) {
            Supplier<Object> supplier = values.get(key);
            if (supplier == null) {
                return null;
            }
            String value = read.get(key);
            if (value == null) {
                try {
                    value = String.valueOf(supplier.get());
                } catch (LlamaException e) {
                    return null;
                }
                read.put(key, value);
            }
            return value;
        }

        @Override
        protected Object handleGetObject(String key) {
            return value(key);
        }

        @Override
        protected Set<String> handleKeySet() {
            return Collections.unmodifiableSet(values.keySet());
        }

        @Override
        public Enumeration<String> getKeys() {
            return Collections.enumeration(values.keySet());
        }
    }
}
