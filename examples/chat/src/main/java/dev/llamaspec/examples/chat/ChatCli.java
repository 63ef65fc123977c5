package dev.llamaspec.examples.chat;

import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaException;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.StopReason;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.Callable;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The CLI chat: streams replies of a GGUF model with optional speculative decoding, interactively
 * (JLine line editing, slash commands) or for one {@code --prompt}.
 *
 * <p>Exit codes: 0 done, 1 the model, the heads or the draft model could not be loaded (or do not fit
 * the model) or generation failed, 2 bad arguments or no model.
 */
@Command(name = "llamaspec-chat", sortOptions = false, usageHelpAutoWidth = true,
        description = {"Chat with a GGUF model through llamaspec, with speculative decoding.",
            "Without --prompt it reads lines interactively; type /help there for the commands."},
        footer = {"", "Interactive commands:",
            "  /help  /stats  /spec STRATEGY  /reset  /system TEXT  /save FILE  /quit",
            "  Ctrl-C cancels a reply as it streams; Ctrl-C or Ctrl-D at the prompt quits.",
            "Exit codes: 0 done, 1 model, heads, draft model or generation failure, 2 bad arguments or no model."})
public final class ChatCli implements Callable<Integer> {
    static final String DEFAULT_MODEL = "../shared/models/stories260K.gguf";

    /** Kept so that the logging configuration is not collected with the logger. */
    private static final Logger LLAMA_LOG = Logger.getLogger("dev.llamaspec.llama.cpp");

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "FILE",
            description = {"GGUF model file; default, when it exists:", DEFAULT_MODEL})
    Path model;

    @Option(names = "--mode", paramLabel = "MODE", defaultValue = "auto",
            description = "chat, completion or auto (default: ${DEFAULT-VALUE}: chat when the model has a chat"
                    + " template, else completion, where each line is continued as text)")
    Mode mode;

    @Option(names = "--system", paramLabel = "TEXT", description = "system prompt")
    String system;

    @Option(names = "--speculation", paramLabel = "STRATEGY", defaultValue = "none",
            description = "none, lookup, recycling, lookahead, auto, medusa (needs --heads) or draft (needs"
                    + " --draft-model) (default: ${DEFAULT-VALUE})")
    String speculation;

    @Option(names = "--heads", paramLabel = "FILE",
            description = "Medusa heads made for the model (llamaspec-train-heads writes them), loaded at startup"
                    + " for --speculation medusa and /spec medusa")
    Path heads;

    @Option(names = "--static-tree",
            description = "Medusa: the static tree from the heads' measured accuracy instead of the dynamic one")
    boolean staticTree;

    @Option(names = "--typical",
            description = "Medusa: LOSSY typical acceptance (threshold 0.09, alpha 0.3, Medusa's defaults); when"
                    + " sampling, the output no longer follows the model's distribution exactly (greedy is"
                    + " unaffected)")
    boolean typical;

    @Option(names = "--draft-model", paramLabel = "FILE",
            description = "a smaller GGUF model with the model's vocabulary, loaded at startup for --speculation"
                    + " draft and /spec draft")
    Path draftModel;

    @Option(names = "--max-draft", paramLabel = "N", description = "at most N draft tokens per step (1-64; default 32)")
    Integer maxDraft;

    @Option(names = "--no-budget",
            description = "evaluate every proposed draft token instead of those the hardware-aware budget keeps")
    boolean noBudget;

    @Option(names = "--lookahead", paramLabel = "W,N,G",
            description = "lookahead's window width, n-gram size and candidates per step (default 8,4,8)")
    String lookahead;

    @Option(names = "--temperature", paramLabel = "T", description = "0 = greedy (default 0.8)")
    Float temperature;

    @Option(names = "--top-k", paramLabel = "K", description = "0 = off (default 40)")
    Integer topK;

    @Option(names = "--top-p", paramLabel = "P", description = "1 = off (default 0.95)")
    Float topP;

    @Option(names = "--min-p", paramLabel = "P", description = "0 = off (default 0.05)")
    Float minP;

    @Option(names = "--repeat-penalty", paramLabel = "R", description = "1 = off (default 1)")
    Float repeatPenalty;

    @Option(names = "--seed", paramLabel = "S", description = "sampling seed, 0 to 4294967294 (default random)")
    Long seed;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "256",
            description = "most tokens per reply (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
            description = "CPU threads (default: the number of cores, at most 8)")
    int threads;

    @Option(names = "--ctx", paramLabel = "N", defaultValue = "0",
            description = "context size in tokens (default: the model's training context, at most 4096)")
    int ctx;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "print the reply to TEXT and exit")
    String prompt;

    @Option(names = "--json", description = "with --prompt: print one JSON object (text, tokens, stopReason,"
            + " mode, speculation, stats)")
    boolean json;

    @Option(names = "--history", paramLabel = "FILE",
            description = "keep the line history in FILE across runs (default: this run only)")
    Path history;

    @Option(names = "--verbose", description = "show llama.cpp's log on stderr")
    boolean verbose;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help and exit")
    boolean help;

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the CLI and returns its exit code. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        CommandLine cli = new CommandLine(new ChatCli());
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        cli.setParameterExceptionHandler((ex, arguments) -> {
            PrintWriter w = ex.getCommandLine().getErr();
            w.println("error: " + ex.getMessage());
            CommandLine.UnmatchedArgumentException.printSuggestions(ex, w);
            w.println("run with --help for the options");
            w.flush();
            return 2;
        });
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            PrintWriter w = commandLine.getErr();
            int code;
            if (ex instanceof LlamaException) {
                w.println("error: " + ex.getMessage());
                code = 1;
            } else if (ex instanceof IllegalArgumentException) {
                w.println("error: " + ex.getMessage());
                code = 2;
            } else {
                w.println("error: " + ex);
                code = 1;
            }
            w.flush();
            return code;
        });
        return cli.execute(args);
    }

    @Override
    public Integer call() {
        if (json && prompt == null) {
            throw usage("--json needs --prompt TEXT (it prints one reply as JSON)");
        }
        SpeculationChoice choice;
        GenerationOptions sampling;
        ModelOptions modelOptions;
        SessionOptions sessionOptions;
        try {
            choice = SpeculationChoice.of(speculation, maxDraft, !noBudget,
                    lookahead == null ? null : SpeculationChoice.parseLookahead(lookahead),
                    new SpeculationChoice.MedusaSettings(staticTree, typical));
            sampling = sampling();
            modelOptions = ModelOptions.builder().threads(threads).contextSize(ctx).build();
            sessionOptions = SessionOptions.builder().threads(threads).contextSize(ctx).build();
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        if (choice.needsHeads() && heads == null) {
            throw usage(SpeculationChoice.NEEDS_HEADS);
        }
        if (choice.needsDraftModel() && draftModel == null) {
            throw usage(SpeculationChoice.NEEDS_DRAFT_MODEL);
        }
        if ((staticTree || typical) && heads == null) {
            throw usage((staticTree ? "--static-tree" : "--typical") + " sets up Medusa speculation: it needs"
                    + " --heads FILE");
        }
        Path modelPath = model;
        if (modelPath == null) {
            modelPath = Paths.get(DEFAULT_MODEL);
            if (!Files.isRegularFile(modelPath)) {
                PrintWriter err = spec.commandLine().getErr();
                err.println("error: no model given and the default " + DEFAULT_MODEL + " is not there (looked in "
                        + Paths.get("").toAbsolutePath() + ").");
                err.println("Pass --model FILE with a GGUF model: any model llama.cpp runs, e.g. a chat model"
                        + " downloaded as a .gguf file, or one converted with llama.cpp's convert_hf_to_gguf.py.");
                err.println("In the llamaspec checkout, run from the repository root so that the shared folder"
                        + " beside it holds models/stories260K.gguf.");
                err.flush();
                return 2;
            }
        }
        configureLogging(verbose);
        try (ChatEngine engine = ChatEngine.open(new ChatEngine.ModelFiles(modelPath, heads, draftModel), modelOptions, sessionOptions, mode, sampling, choice)) {
            engine.conversation().setSystem(system);
            if (prompt != null) {
                return once(engine);
            }
            return new Interactive(engine, history).run();
        } catch (IOException e) {
            spec.commandLine().getErr().println("error: terminal: " + e.getMessage());
            return 1;
        }
    }

    /** --prompt: the reply, streamed, or one JSON object. */
    private int once(ChatEngine engine) {
        PrintWriter out = spec.commandLine().getOut();
        ChatEngine.Reply reply;
        if (json) {
            reply = engine.reply(prompt, text -> { }, () -> false);
            out.println(Json.compact(Json.generation(reply.generation(), engine.mode(), engine.speculation())));
        } else {
            reply = engine.reply(prompt, text -> {
                out.print(text);
                out.flush();
            }, () -> false);
            Generation g = reply.generation();
            if (!g.text().endsWith("\n")) {
                out.println();
            }
            if (g.stopReason() == StopReason.CONTEXT_FULL) {
                spec.commandLine().getErr().println("[the context is full: --ctx makes it larger]");
            }
        }
        out.flush();
        return 0;
    }

    private GenerationOptions sampling() {
        GenerationOptions.Builder b = GenerationOptions.builder().maxTokens(maxTokens);
        if (temperature != null) {
            b.temperature(temperature);
        }
        if (topK != null) {
            b.topK(topK);
        }
        if (topP != null) {
            b.topP(topP);
        }
        if (minP != null) {
            b.minP(minP);
        }
        if (repeatPenalty != null) {
            b.repeatPenalty(repeatPenalty);
        }
        if (seed != null) {
            b.seed(seed);
        }
        return b.build();
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /** llama.cpp's log: off unless --verbose (the library's exceptions carry what matters). */
    private static void configureLogging(boolean verbose) {
        LLAMA_LOG.setUseParentHandlers(false);
        if (!verbose) {
            LLAMA_LOG.setLevel(Level.OFF);
            return;
        }
        LLAMA_LOG.setLevel(Level.ALL);
        ConsoleHandler handler = new ConsoleHandler();
        handler.setLevel(Level.ALL);
        handler.setFormatter(new Formatter() {
            @Override
            public String format(LogRecord r) {
                String line = formatMessage(r);
                return "llama.cpp: " + (line.endsWith("\n") ? line : line + "\n");
            }
        });
        LLAMA_LOG.addHandler(handler);
    }
}
