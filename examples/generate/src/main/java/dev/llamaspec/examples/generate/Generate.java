package dev.llamaspec.examples.generate;

import dev.llamaspec.GenerationOptions;
import dev.llamaspec.GenerationStats;
import dev.llamaspec.LlamaException;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelInfo;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.TextChunk;
import dev.llamaspec.TokenStream;
import dev.llamaspec.examples.cli.CliSupport;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * Generates a continuation of a prompt and streams it to the terminal.
 *
 * <pre>
 * java -jar llamaspec-generate.jar [--model FILE] [--tokens N] [--temperature T] [--seed S] [--threads N]
 *                                  [--ctx N] [PROMPT]
 * </pre>
 *
 * <p>Exit codes: 0 done, 1 the model is not there or could not be loaded or generation failed, 2 bad
 * arguments. The conventions of every llamaspec command line are in {@link CliSupport}.
 */
@Command(name = "llamaspec-generate", sortOptions = false, usageHelpAutoWidth = true,
        mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class,
        description = "Generates a continuation of PROMPT with a GGUF model through llamaspec: the text on"
                + " stdout, the model and the speed on stderr.",
        footer = {"", "Exit codes: 0 done, 1 the model is not there or could not be loaded or generation failed,"
                + " 2 bad arguments (also no --model where the default model is not there)."})
public final class Generate implements Callable<Integer> {
    static final String DEFAULT_MODEL = "../shared/models/stories260K.gguf";

    /** The flags of the Java properties that the library's range checks name. */
    static final Map<String, String> FLAGS = Map.of("maxTokens", "--tokens", "temperature", "--temperature",
            "threads", "--threads", "contextSize", "--ctx");

    @Spec
    CommandSpec spec;

    @Parameters(arity = "0..1", paramLabel = "PROMPT", defaultValue = "Once upon a time",
            description = "the text to continue (default: ${DEFAULT-VALUE})")
    String prompt;

    @Option(names = "--model", paramLabel = "FILE", defaultValue = DEFAULT_MODEL,
            description = {"GGUF model file; the default is the test model, from the repository root",
                "(default: ${DEFAULT-VALUE})"})
    Path model;

    @Option(names = "--tokens", paramLabel = "N", defaultValue = "128",
            description = "most tokens to generate, at least 1 (default: ${DEFAULT-VALUE})")
    int tokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0",
            description = "0 to 100, 0 = greedy (default: ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--seed", paramLabel = "S", description = CliSupport.SEED_HELP)
    Long seed;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "${bundle:SessionOptions.threads}",
            description = "CPU threads, 0 to 512; 0 = automatic: up to the number of cores (at most 8), shared among sessions and lowered while the machine is busy (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--ctx", paramLabel = "N", defaultValue = "${bundle:SessionOptions.contextSize}",
            description = CliSupport.CTX_HELP)
    int ctx;

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the program and returns its exit code. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        return CliSupport.commandLine(new Generate(), out, err).execute(args);
    }

    @Override
    public Integer call() {
        GenerationOptions options;
        ModelOptions modelOptions;
        SessionOptions sessionOptions;
        try {
            GenerationOptions.Builder b = GenerationOptions.builder().maxTokens(tokens).temperature(temperature);
            long s = CliSupport.seed(spec, seed);
            if (s != GenerationOptions.RANDOM_SEED) {
                b.seed(s);
            }
            options = b.build();
            modelOptions = ModelOptions.builder().threads(threads).build();
            sessionOptions = SessionOptions.builder().contextSize(ctx).build();
        } catch (IllegalArgumentException e) {
            throw CliSupport.bad(spec, CliSupport.flagMessage(e, FLAGS));
        }
        if (!spec.commandLine().getParseResult().hasMatchedOption("--model") && !Files.isRegularFile(model)) {
            throw CliSupport.bad(spec, "no model given and the default " + DEFAULT_MODEL + " is not there (looked in "
                    + Paths.get("").toAbsolutePath() + "): pass --model FILE with a GGUF model, or run from the"
                    + " repository root");
        }
        CliSupport.requireFile("--model", model);

        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        LlamaModel loaded;
        try {
            loaded = LlamaModel.load(model, modelOptions);
        } catch (LlamaException e) {
            throw CliSupport.loadFailure("--model", e);
        }
        try (LlamaModel m = loaded; Session session = newSession(m, sessionOptions)) {
            ModelInfo info = m.info();
            err.printf(Locale.ROOT, "model: %s (%s, %,d parameters, vocabulary %d) on %s%n",
                    info.name().isEmpty() ? model.getFileName() : info.name(), info.description(),
                    info.parameterCount(), info.vocabularySize(), String.join(" + ", info.devices()));
            String note = CliSupport.contextNote(ctx, session.contextSize());
            if (note != null) {
                err.println("note: " + note);
            }
            err.flush();
            out.print(prompt);
            try (TokenStream stream = session.stream(prompt, options)) {
                for (TextChunk chunk : stream) {
                    out.print(chunk.text());
                    out.flush();
                }
                out.println();
                out.flush();
                GenerationStats stats = stream.result().stats();
                err.printf(Locale.ROOT, "[%d prompt tokens in %.1f ms, %d tokens at %.1f tokens/s, stop: %s]%n",
                        stats.promptTokens(), stats.promptMillis(), stats.generatedTokens(), stats.tokensPerSecond(),
                        stream.result().stopReason());
                err.flush();
            }
        }
        return 0;
    }

    /** The session; when llama.cpp cannot make the context that --ctx asked for, the failure names --ctx. */
    private Session newSession(LlamaModel m, SessionOptions options) {
        try {
            return m.newSession(options);
        } catch (LlamaException e) {
            throw ctx != 0 ? CliSupport.loadFailure("--ctx " + ctx, e) : e;
        }
    }
}
