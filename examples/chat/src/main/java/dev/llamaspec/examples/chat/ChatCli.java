package dev.llamaspec.examples.chat;

import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaException;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.StopReason;
import dev.llamaspec.examples.cli.CliSupport;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The CLI chat: streams replies of a GGUF model with optional speculative decoding, interactively
 * (JLine line editing, slash commands) or for one {@code --prompt}.
 *
 * <p>Exit codes: 0 done, 1 the model, the heads or the draft model are not there, could not be loaded or
 * do not fit the model, or generation failed, 2 bad arguments or no model. The conventions of every
 * llamaspec command line are in {@link CliSupport}; the defaults of the sampling options, the context
 * size and the speculation parameters are the library's ({@link CliSupport.LibraryValues}).
 */
@Command(name = "llamaspec-chat", sortOptions = false, usageHelpAutoWidth = true, mixinStandardHelpOptions = true,
        versionProvider = CliSupport.Version.class,
        description = {"Chat with a GGUF model through llamaspec, with speculative decoding.",
            "Without --prompt it reads lines interactively; type /help there for the commands."},
        footer = {"", "Interactive commands:",
            "  /help  /stats  /spec STRATEGY  /reset  /system TEXT  /save FILE  /save-session FILE  /quit",
            "  Ctrl-C cancels a reply as it streams; Ctrl-C or Ctrl-D at the prompt quits.",
            "Exit codes: 0 done, 1 model, heads, draft model or generation failure (also a file given that is not"
                    + " there), 2 bad arguments or no model."})
public final class ChatCli implements Callable<Integer> {
    static final String DEFAULT_MODEL = "../shared/models/stories260K.gguf";

    /**
     * The flags of the Java properties that the library's range checks name. --top-p, --max-tokens and
     * --ctx keep the property's name after the flag, as the chat's messages always had (its tests,
     * ChatCliArgsTest, look for "topP must be in" and so on).
     */
    static final Map<String, String> FLAGS = Map.of("temperature", "--temperature", "topK", "--top-k",
            "topP", "--top-p: topP", "minP", "--min-p", "repeatPenalty", "--repeat-penalty", "maxTokens",
            "--max-tokens: maxTokens", "threads", "--threads", "contextSize", "--ctx: contextSize", "rpcServers:", "--rpc:");

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
            description = "${bundle:Speculation.names}; medusa needs --heads, draft --draft-model (default:"
                    + " ${DEFAULT-VALUE})")
    String speculation;

    @Option(names = "--heads", paramLabel = "FILE",
            description = "Medusa heads made for the model (llamaspec-train-heads writes them), loaded at startup"
                    + " for --speculation medusa and /spec medusa")
    Path heads;

    @Option(names = "--static-tree",
            description = "Medusa: the static tree from the heads' measured accuracy instead of the dynamic one")
    boolean staticTree;

    @Option(names = "--typical",
            description = "Medusa: LOSSY typical acceptance (threshold ${bundle:Speculation.typicalThreshold}, alpha"
                    + " ${bundle:Speculation.typicalAlpha}, Medusa's defaults); when sampling, the output no longer"
                    + " follows the model's distribution exactly (greedy is unaffected)")
    boolean typical;

    @Option(names = "--draft-model", paramLabel = "FILE",
            description = "a smaller GGUF model with the model's vocabulary, loaded at startup for --speculation"
                    + " draft and /spec draft")
    Path draftModel;

    @Option(names = "--max-draft", paramLabel = "N",
            description = "at most N draft tokens per step (1-64; default ${bundle:Speculation.maxDraftTokens})")
    Integer maxDraft;

    @Option(names = "--no-budget",
            description = "evaluate every proposed draft token instead of those the hardware-aware budget keeps")
    boolean noBudget;

    @Option(names = "--lookahead", paramLabel = "W,N,G",
            description = "lookahead's window width, n-gram size and candidates per step (default"
                    + " ${bundle:Speculation.lookahead})")
    String lookahead;

    // the sampling defaults are the library's (ChatCliArgsTest compares them with GenerationOptions.defaults())
    @Option(names = "--temperature", paramLabel = "T", defaultValue = "${bundle:GenerationOptions.temperature}",
            description = "0 to 100, 0 = greedy (default: ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "${bundle:GenerationOptions.topK}",
            description = "0 = off (default: ${DEFAULT-VALUE})")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "${bundle:GenerationOptions.topP}",
            description = "above 0 and at most 1, 1 = off (default: ${DEFAULT-VALUE})")
    float topP;

    @Option(names = "--min-p", paramLabel = "P", defaultValue = "${bundle:GenerationOptions.minP}",
            description = "0 to 0.9999, 0 = off (default: ${DEFAULT-VALUE})")
    float minP;

    @Option(names = "--repeat-penalty", paramLabel = "R", defaultValue = "${bundle:GenerationOptions.repeatPenalty}",
            description = "above 0 and at most 100, 1 = off (default: ${DEFAULT-VALUE})")
    float repeatPenalty;

    @Option(names = "--seed", paramLabel = "S", description = CliSupport.SEED_HELP)
    Long seed;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "${bundle:GenerationOptions.maxTokens}",
            description = "most tokens per reply, at least 1 (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "${bundle:SessionOptions.threads}",
            description = "CPU threads, 0 to 512; 0 = automatic: up to the number of cores (at most 8), shared among sessions and lowered while the machine is busy (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--ctx", paramLabel = "N", defaultValue = "${bundle:SessionOptions.contextSize}",
            description = CliSupport.CTX_HELP)
    int ctx;

    @Option(names = "--rpc", paramLabel = "HOST:PORT,...", split = ",",
            description = "ggml-rpc-server addresses to split the model's layers over (the draft model and the heads"
                    + " stay local); a server that goes away ends the reply with an error and the model cannot be"
                    + " used until the chat starts again")
    List<String> rpc = new ArrayList<>();

    @Option(names = "--strict-numerics", description = "flash attention off and keys and values in F32: greedy"
            + " replies with speculation are then token for token those without it (by default they can differ"
            + " where the two likeliest tokens nearly tie); slower")
    boolean strictNumerics;

    @Option(names = "--grammar", paramLabel = "FILE",
            description = "structured output: every reply follows this grammar (llama.cpp's GBNF, rule root)")
    Path grammar;

    @Option(names = "--json-schema", paramLabel = "FILE",
            description = "structured output: every reply is one JSON value valid against this JSON Schema")
    Path jsonSchema;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "print the reply to TEXT and exit")
    String prompt;

    @Option(names = "--json", description = "with --prompt: print one JSON object (text, tokens, stopReason,"
            + " mode, speculation, stats, contextSize)")
    boolean json;

    @Option(names = "--history", paramLabel = "FILE",
            description = "keep the line history in FILE across runs (default: this run only)")
    Path history;

    @Option(names = "--session", paramLabel = "FILE",
            description = "resume a session saved with /save-session FILE: its conversation and KV cache")
    Path session;

    @Option(names = "--verbose", description = "show llama.cpp's log on stderr")
    boolean verbose;

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the CLI and returns its exit code. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        return CliSupport.commandLine(new ChatCli(), out, err).execute(args);
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
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        if (grammar != null && jsonSchema != null) {
            throw usage("--grammar and --json-schema both constrain the reply: give one");
        }
        CliSupport.requireFile("--grammar", grammar);
        CliSupport.requireFile("--json-schema", jsonSchema);
        try {
            sampling = sampling();
            modelOptions = ModelOptions.builder().threads(threads).contextSize(ctx).rpcServers(rpc).build();
            sessionOptions = SessionOptions.builder().threads(threads).contextSize(ctx).strictNumerics(strictNumerics)
                    .build();
        } catch (IllegalArgumentException e) {
            throw usage(CliSupport.flagMessage(e, FLAGS));
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
        if (history != null && Files.isDirectory(history)) {
            throw usage("--history " + history + ": is a directory, not a file");
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
                return CliSupport.BAD_ARGUMENTS;
            }
        }
        CliSupport.requireFile("--model", modelPath);
        CliSupport.requireFile("--heads", heads);
        CliSupport.requireFile("--draft-model", draftModel);
        CliSupport.requireFile("--session", session);
        configureLogging(verbose);
        try (ChatEngine engine = open(new ChatEngine.ModelFiles(modelPath, heads, draftModel), modelOptions,
                sessionOptions, sampling, choice)) {
            if (system != null || session == null) {
                engine.conversation().setSystem(system); // else the resumed conversation's
            }
            if (grammar != null) {
                try {
                    engine.model().checkGrammar(sampling.grammar().orElseThrow());
                } catch (IllegalArgumentException e) {
                    throw usage("--grammar " + grammar + ": " + e.getMessage());
                }
            }
            String contextNote = CliSupport.contextNote(ctx, engine.contextSize());
            if (prompt != null) {
                if (contextNote != null) {
                    spec.commandLine().getErr().println("note: " + contextNote);
                    spec.commandLine().getErr().flush();
                }
                return once(engine);
            }
            return new Interactive(engine, history, contextNote).run();
        } catch (IOException e) {
            spec.commandLine().getErr().println("error: terminal: " + e.getMessage());
            return CliSupport.FAILURE;
        }
    }

    /** Loads the files and opens the session; a failure names the flag of the file (or of the context size). */
    private ChatEngine open(ChatEngine.ModelFiles files, ModelOptions modelOptions, SessionOptions sessionOptions,
            GenerationOptions sampling, SpeculationChoice choice) {
        try {
            return ChatEngine.open(files, modelOptions, sessionOptions, mode, sampling, choice, session);
        } catch (ChatEngine.OpenException e) {
            String flag = switch (e.part()) {
                case MODEL -> e.getCause() instanceof LlamaException l && l.code() == dev.llamaspec.ErrorCode.RPC
                        ? "--rpc" : "--model";
                case HEADS -> "--heads";
                case DRAFT_MODEL -> "--draft-model";
                case CONTEXT -> ctx != 0 ? "--ctx " + ctx : null;
                case SESSION -> "--session " + session;
            };
            throw flag == null ? (LlamaException) e.getCause() : CliSupport.loadFailure(flag, e);
        }
    }

    /** --prompt: the reply, streamed, or one JSON object (with the context size used). */
    private int once(ChatEngine engine) {
        PrintWriter out = spec.commandLine().getOut();
        ChatEngine.Reply reply;
        if (json) {
            reply = engine.reply(prompt, text -> { }, () -> false);
            out.println(Json.compact(Json.generation(reply.generation(), engine.mode(), engine.speculation())
                    .put("contextSize", engine.contextSize())));
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
        GenerationOptions.Builder b = GenerationOptions.builder().maxTokens(maxTokens).temperature(temperature)
                .topK(topK).topP(topP).minP(minP).repeatPenalty(repeatPenalty);
        long s = CliSupport.seed(spec, seed);
        if (s != GenerationOptions.RANDOM_SEED) {
            b.seed(s);
        }
        if (grammar != null) {
            b.grammar(readText("--grammar", grammar));
        }
        if (jsonSchema != null) {
            String schema = readText("--json-schema", jsonSchema);
            try {
                b.jsonSchema(schema);
            } catch (IllegalArgumentException e) {
                throw usage("--json-schema " + jsonSchema + ": " + e.getMessage());
            }
        }
        return b.build();
    }

    private String readText(String flag, Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw usage(flag + " " + file + ": cannot read it: " + e.getMessage());
        }
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /**
     * llama.cpp's log, and the library's own INFO lines (where a model runs): off unless --verbose (the
     * library's exceptions carry what matters).
     */
    private static void configureLogging(boolean verbose) {
        LLAMA_LOG.setUseParentHandlers(false);
        if (!verbose) {
            LLAMA_LOG.setLevel(Level.OFF);
            return; // and the library's INFO lines stay quiet (CliSupport.commandLine)
        }
        CliSupport.LIBRARY_LOG.setLevel(Level.INFO);
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
