package dev.llamaspec.examples.chat;

import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.PositionalParamSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * The command-line convention of the llamaspec programs: every error message starts with
 * {@code error: } and names the flag; exit code 0 done, 1 a failure (a file that exists but cannot be
 * loaded, generation), 2 bad arguments (picocli's {@link ParameterException}, followed by the usage
 * hint), among them a path that is not there; {@code -h}/{@code --help}, {@code --version}, defaults
 * in the help; {@code --seed -1} means a random seed; a context size that llama.cpp changed is said.
 *
 * <p>The chat, generate and the benchmarks each have this class, the same but for the package line
 * (each example module stands alone); examples/generate's CliSupportCopiesTest keeps them the same.
 */
final class CliSupport {
    static final int FAILURE = 1;
    static final int BAD_ARGUMENTS = 2;
    static final String USAGE_HINT = "run with --help for the options";

    /** The largest seed: the library keeps 2^32 - 1 for "random". */
    static final long MAX_SEED = GenerationOptions.RANDOM_SEED - 1;
    static final String SEED_HELP = "sampling seed, 0 to " + MAX_SEED + " (the same seed and settings give the"
            + " same text); -1 or no --seed: a random seed";
    /** llama.cpp (0.7.0, one unified KV cache) rounds a context size up to a multiple of this. */
    static final int CONTEXT_ROUNDING = 256;
    static final String CTX_HELP = "context size in tokens, 8 to 16777216, or 0 for the model's training context"
            + " (at most 4096); llama.cpp rounds it up to a multiple of " + CONTEXT_ROUNDING + ", so "
            + CONTEXT_ROUNDING + " is the smallest context, and the size used is shown when it differs"
            + " (default: ${DEFAULT-VALUE})";

    private CliSupport() {}

    /** A failure (exit code 1) whose message already says what failed, the flag first. */
    static final class Failure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Failure(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * A picocli command line with the convention's handlers: bad arguments print {@code error: MESSAGE}
     * and the usage hint and exit with 2; a {@link Failure} or {@link LlamaException} prints
     * {@code error: MESSAGE} and exits with 1 (an {@link IllegalArgumentException} from the library is
     * a bad argument: 2).
     */
    static CommandLine commandLine(Object command, PrintStream out, PrintStream err) {
        CommandLine cli = new CommandLine(command);
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

    static ParameterException bad(CommandSpec spec, String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /**
     * The library's message for a value out of range ({@code "topP must be in (0.0, 1.0], got 0.0"})
     * with the flag in place of the Java property it starts with ({@code "--top-p must be in ..."});
     * {@code flags} maps properties to flags. A message that starts with none of them is kept.
     */
    static String flagMessage(IllegalArgumentException e, Map<String, String> flags) {
        String message = String.valueOf(e.getMessage());
        int space = message.indexOf(' ');
        String flag = space > 0 ? flags.get(message.substring(0, space)) : null;
        return flag == null ? message : flag + message.substring(space);
    }

    /** An int flag's value must be in [min, max]. */
    static int range(CommandSpec spec, String flag, int value, int min, int max) {
        if (value < min || value > max) {
            throw bad(spec, flag + " must be in [" + min + ", " + max + "], got " + value);
        }
        return value;
    }

    /** A number flag's value must be finite and at least {@code min} ({@code inclusive}) or above it. */
    static double atLeast(CommandSpec spec, String flag, double value, double min, boolean inclusive) {
        if (!Double.isFinite(value) || value < min || !inclusive && value == min) {
            throw bad(spec, flag + " must be " + (inclusive ? "at least " : "greater than ")
                    + BigDecimal.valueOf(min).stripTrailingZeros().toPlainString() + ", got " + value);
        }
        return value;
    }

    /** {@code --seed}: null or -1 is a random seed, else it must be in [0, {@link #MAX_SEED}]. */
    static long seed(CommandSpec spec, Long seed) {
        if (seed == null || seed == -1) {
            return GenerationOptions.RANDOM_SEED;
        }
        if (seed < 0 || seed > MAX_SEED) {
            throw bad(spec, "--seed must be in [0, " + MAX_SEED + "], or -1 for a random seed, got " + seed);
        }
        return seed;
    }

    /** What is wrong with a path that must name an existing file, or null when nothing is. */
    static String fileProblem(Path path) {
        if (Files.isDirectory(path)) {
            return "is a directory, not a file";
        }
        if (!Files.exists(path)) {
            return "no such file";
        }
        return null;
    }

    /** {@code --flag PATH: no such file}, or null when the file is there. */
    static String missingFile(String flag, Path path) {
        String problem = fileProblem(path);
        return problem == null ? null : flag + " " + path + ": " + problem;
    }

    /** A path given for {@code flag} must be an existing file: else a bad argument. */
    static void requireFile(CommandSpec spec, String flag, Path path) {
        String message = path == null ? null : missingFile(flag, path);
        if (message != null) {
            throw bad(spec, message);
        }
    }

    /** A file that exists but could not be loaded: the library's message after the flag. */
    static Failure loadFailure(String flag, RuntimeException e) {
        return new Failure(flag + ": " + e.getMessage(), e);
    }

    /**
     * What to say when llama.cpp made the context another size than {@code --ctx} asked for, or null
     * when it did not (or none was asked for).
     */
    static String contextNote(int requested, int actual) {
        if (requested == 0 || requested == actual) {
            return null;
        }
        return String.format(Locale.ROOT, "--ctx %d: the context is %d tokens (llama.cpp rounds the context size up"
                + " to a multiple of %d)", requested, actual, CONTEXT_ROUNDING);
    }

    /** {@code --version}: the jar's version, and the Java runtime. */
    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = CliSupport.class.getPackage().getImplementationVersion();
            return new String[] {"${COMMAND-FULL-NAME} " + (version != null ? version : "(development build)"),
                "Java ${java.version} (${java.vendor}) on ${os.name} ${os.arch}"};
        }
    }
}
