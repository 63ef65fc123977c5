package dev.llamaspec.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.GenerationStats;
import dev.llamaspec.LlamaException;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.MedusaHeads;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.Speculation;
import dev.llamaspec.examples.cli.CliSupport;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The Java side of specbench: the same prompt sets, generated through the Java API and JNI, so that
 * the path Java applications take is measured too. Prompts come from the JSON that the C++
 * {@code llamaspec-specbench} wrote ({@code --prompts-from}); results are printed and written as JSON.
 *
 * <pre>
 * SpecBench --model FILE --prompts-from specbench.json [--strategies none,lookup,recycling,lookahead,auto,auto-fixed]
 *           [--tokens 128] [--heads FILE] [--draft-model FILE]
 *           [--threads 2] [--load-mode mmap|none] [--json FILE]
 * </pre>
 *
 * <p>The strategies are read by {@link Speculation#parse(String, MedusaHeads, LlamaModel)} (medusa with
 * the heads of {@code --heads}, draft with the model of {@code --draft-model}); a {@code -fixed} suffix
 * turns the budget off ({@code withBudget(false)}), as in llamaspec-specbench.
 *
 * <p>Exit codes: 0 done, 1 a file is not there or could not be loaded or generation failed, 2 bad
 * arguments. The conventions of every llamaspec command line are in {@link CliSupport}.
 */
@Command(name = "SpecBench", sortOptions = false, usageHelpAutoWidth = true, mixinStandardHelpOptions = true,
        versionProvider = CliSupport.Version.class,
        description = "The Java side of specbench: the prompt sets of llamaspec-specbench's JSON generated through"
                + " the Java API with each strategy, greedy; prints a table and writes JSON.",
        footer = {"", "Exit codes: 0 done, 1 a file is not there or could not be loaded or generation failed, 2 bad"
                + " arguments."})
public final class SpecBench implements Callable<Integer> {
    /** One prompt generated with one strategy. */
    public record Run(int promptTokens, int generated, int steps, int drafted, int accepted, double decodeMillis,
            double ttftMillis) {
        double tokensPerSecond() {
            return decodeMillis > 0 ? generated * 1000.0 / decodeMillis : 0;
        }
    }

    /**
     * Median, least and greatest over prompts: a median is not carried by one disturbed run the way a
     * mean is (and the speedup is the median of the per-prompt ratios to plain decoding).
     */
    public record Stat(double median, double min, double max) {}

    /** A strategy's results on one prompt set. */
    public record Result(String set, String strategy, int generated, int steps, int drafted, int accepted, double tau,
            Stat tokensPerSecond, Stat speedup, Stat ttftMillis, List<Integer> divergedPrompts, List<Run> perPrompt) {}

    public record Report(String model, int threads, int tokensPerPrompt, String date, List<Result> results) {}

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "FILE", required = true, description = "the GGUF model")
    Path modelPath;

    @Option(names = "--prompts-from", paramLabel = "FILE", required = true,
            description = "the JSON that llamaspec-specbench wrote: its prompt_sets are generated here")
    Path promptsFrom;

    @Option(names = "--json", paramLabel = "FILE", description = "also write the results to FILE as JSON")
    Path jsonOut;

    @Option(names = "--strategies", paramLabel = "LIST", defaultValue = "none",
            description = "comma-separated strategies as Speculation.parse names them (${bundle:Speculation.names};"
                    + " medusa needs --heads, draft --draft-model); a -fixed suffix turns the budget off; none, the"
                    + " baseline, is always measured first (default: ${DEFAULT-VALUE})")
    String strategyList;

    @Option(names = "--heads", paramLabel = "FILE",
            description = "Medusa heads made for the model, for the strategy medusa")
    Path headsPath;

    @Option(names = "--draft-model", paramLabel = "FILE",
            description = "a smaller GGUF model with the model's vocabulary, for the strategy draft")
    Path draftModelPath;

    @Option(names = "--tokens", paramLabel = "N", defaultValue = "128",
            description = "most tokens per prompt, at least 1 (default: ${DEFAULT-VALUE})")
    int tokens;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "2",
            description = "threads, 1 to 512 (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--load-mode", paramLabel = "MODE", defaultValue = "mmap",
            description = "mmap (map the models' files) or none (read them into memory) (default: ${DEFAULT-VALUE})")
    PlainBench.LoadMode loadMode;

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the benchmark and returns its exit code. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        return CliSupport.commandLine(new SpecBench(), out, err).execute(args);
    }

    @Override
    public Integer call() throws Exception {
        CliSupport.range(spec, "--tokens", tokens, 1, 1 << 24);
        CliSupport.range(spec, "--threads", threads, 1, 512);
        if (jsonOut != null) {
            Path parent = jsonOut.toAbsolutePath().getParent();
            if (Files.isDirectory(jsonOut) || parent != null && !Files.isDirectory(parent)) {
                throw CliSupport.bad(spec, "--json " + jsonOut + ": " + (Files.isDirectory(jsonOut)
                        ? "is a directory, not a file" : "no such directory " + parent));
            }
        }
        List<Strategy> strategies = strategies(strategyList);
        CliSupport.requireFile("--model", modelPath);
        CliSupport.requireFile("--prompts-from", promptsFrom);
        CliSupport.requireFile("--heads", headsPath);
        CliSupport.requireFile("--draft-model", draftModelPath);
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        Map<String, List<String>> sets = promptSets(json, promptsFrom);

        List<Result> results = new ArrayList<>();
        ModelOptions modelOptions = ModelOptions.builder().threads(threads)
                .mmap(loadMode == PlainBench.LoadMode.mmap).build();
        LlamaModel loaded;
        try {
            loaded = LlamaModel.load(modelPath, modelOptions);
        } catch (LlamaException e) {
            throw CliSupport.loadFailure("--model", e);
        }
        try (LlamaModel model = loaded;
             MedusaHeads heads = headsPath == null ? null : load("--heads", () -> MedusaHeads.load(model, headsPath));
             LlamaModel draftModel = draftModelPath == null ? null : loadDraftModel(model, modelOptions);
             Session session = model.newSession(SessionOptions.builder().contextSize(2048).build())) {
            List<Speculation> speculations = new ArrayList<>();
            for (Strategy s : strategies) {
                speculations.add(s.speculation(heads, draftModel));
            }
            GenerationOptions options = GenerationOptions.builder().temperature(0).maxTokens(tokens).build();
            for (Map.Entry<String, List<String>> set : sets.entrySet()) {
                List<List<Run>> runs = new ArrayList<>();
                List<List<int[]>> outputs = new ArrayList<>();
                for (int k = 0; k < strategies.size(); k++) {
                    runs.add(new ArrayList<>());
                    outputs.add(new ArrayList<>());
                }
                List<String> prompts = set.getValue();
                for (int i = 0; i < prompts.size(); i++) {
                    if (i == 0) {
                        session.generate(prompts.get(0), options.toBuilder().maxTokens(16).build()); // warm-up
                    }
                    for (int k = 0; k < strategies.size(); k++) {
                        session.reset();
                        Generation g = session.generate(prompts.get(i),
                                options.toBuilder().speculation(speculations.get(k)).build());
                        GenerationStats s = g.stats();
                        double decode = s.timeToFirstTokenMillis() - s.promptMillis() + s.generationMillis();
                        runs.get(k).add(new Run(s.promptTokens(), s.generatedTokens(), s.steps(), s.draftedTokens(),
                                s.acceptedTokens(), decode, s.timeToFirstTokenMillis()));
                        outputs.get(k).add(g.tokens());
                    }
                    System.err.printf(Locale.ROOT, "\r%s: %d/%d prompts", set.getKey(), i + 1, prompts.size());
                }
                System.err.println();
                for (int k = 0; k < strategies.size(); k++) {
                    results.add(summarise(set.getKey(), strategies.get(k).label(), runs.get(k), runs.get(0),
                            outputs.get(k), outputs.get(0)));
                }
            }
        }
        Report report = new Report(modelPath.toString(), threads, tokens, java.time.Instant.now().toString(), results);
        print(report);
        if (jsonOut != null) {
            json.writeValue(jsonOut.toFile(), report);
        }
        return 0;
    }

    /** One entry of --strategies: a strategy's name and whether -fixed turned the budget off. */
    record Strategy(Speculation.Kind kind, String name, boolean fixed) {
        /** As the results name it: the canonical name, with -fixed where given. */
        String label() {
            return kind.canonicalName() + (fixed ? "-fixed" : "");
        }

        /** The strategy with the heads or the draft model it needs ({@link Speculation#parse}). */
        Speculation speculation(MedusaHeads heads, LlamaModel draftModel) {
            Speculation s = Speculation.parse(name, heads, draftModel);
            return fixed ? s.withBudget(false) : s;
        }
    }

    /**
     * The strategies of --strategies, none (the baseline) first; an unknown name, or medusa or draft
     * without --heads or --draft-model, is a bad argument.
     */
    private List<Strategy> strategies(String list) {
        List<Strategy> strategies = new ArrayList<>();
        for (String entry : list.split(",", -1)) {
            // as in llamaspec-specbench, a "-fixed" suffix turns the hardware-aware budget off
            boolean fixed = entry.endsWith("-fixed");
            String name = fixed ? entry.substring(0, entry.length() - "-fixed".length()) : entry;
            Speculation.Kind kind;
            try {
                kind = Speculation.Kind.parse(name);
            } catch (IllegalArgumentException e) {
                throw CliSupport.bad(spec, "--strategies: " + e.getMessage());
            }
            if (kind == Speculation.Kind.MEDUSA && headsPath == null) {
                throw CliSupport.bad(spec, "--strategies: '" + entry + "' needs Medusa heads: add --heads FILE");
            }
            if (kind == Speculation.Kind.DRAFT_MODEL && draftModelPath == null) {
                throw CliSupport.bad(spec, "--strategies: '" + entry + "' needs a draft model: add --draft-model FILE");
            }
            strategies.add(new Strategy(kind, name, fixed));
        }
        if (strategies.get(0).kind() != Speculation.Kind.NONE || strategies.get(0).fixed()) {
            strategies.add(0, new Strategy(Speculation.Kind.NONE, "none", false)); // the baseline, first
        }
        return strategies;
    }

    /** Runs a load step; the library's failure names the flag of the file. */
    private static <T> T load(String flag, Supplier<T> step) {
        try {
            return step.get();
        } catch (LlamaException e) {
            throw CliSupport.loadFailure(flag, e);
        }
    }

    /** The --draft-model, loaded with the model's options and checked against the model's vocabulary. */
    private LlamaModel loadDraftModel(LlamaModel model, ModelOptions options) {
        LlamaModel draft = load("--draft-model", () -> LlamaModel.load(draftModelPath, options));
        try {
            load("--draft-model", () -> {
                model.checkDraftModel(draft);
                return null;
            });
        } catch (RuntimeException e) {
            draft.close();
            throw e;
        }
        return draft;
    }

    /** The prompt sets of llamaspec-specbench's JSON, by name; a file that is not such JSON is a failure. */
    private static Map<String, List<String>> promptSets(ObjectMapper json, Path file) {
        JsonNode sets;
        try {
            sets = json.readTree(file.toFile()).path("prompt_sets");
        } catch (IOException e) {
            throw new CliSupport.Failure("--prompts-from " + file + ": cannot read it as JSON: " + e.getMessage(), e);
        }
        if (!sets.isArray() || sets.isEmpty()) {
            throw new CliSupport.Failure("--prompts-from " + file + ": no prompt_sets in it (llamaspec-specbench --json"
                    + " writes them)", null);
        }
        Map<String, List<String>> byName = new LinkedHashMap<>();
        for (JsonNode set : sets) {
            List<String> prompts = new ArrayList<>();
            set.path("prompts").forEach(p -> prompts.add(p.asText()));
            if (prompts.isEmpty()) {
                throw new CliSupport.Failure("--prompts-from " + file + ": prompt set '" + set.path("name").asText()
                        + "' has no prompts", null);
            }
            byName.put(set.path("name").asText(), prompts);
        }
        return byName;
    }

    private static Result summarise(String set, String strategy, List<Run> runs, List<Run> plain, List<int[]> outputs,
            List<int[]> plainOutputs) {
        int generated = 0;
        int steps = 0;
        int drafted = 0;
        int accepted = 0;
        double[] tps = new double[runs.size()];
        double[] speedup = new double[runs.size()];
        double[] ttft = new double[runs.size()];
        List<Integer> diverged = new ArrayList<>();
        for (int i = 0; i < runs.size(); i++) {
            Run r = runs.get(i);
            generated += r.generated();
            steps += r.steps();
            drafted += r.drafted();
            accepted += r.accepted();
            tps[i] = r.tokensPerSecond();
            speedup[i] = r.tokensPerSecond() / plain.get(i).tokensPerSecond();
            ttft[i] = r.ttftMillis();
            if (!java.util.Arrays.equals(outputs.get(i), plainOutputs.get(i))) {
                diverged.add(i);
            }
        }
        return new Result(set, strategy, generated, steps, drafted, accepted, steps == 0 ? 0 : (double) generated / steps,
                stat(tps), stat(speedup), stat(ttft), diverged, runs);
    }

    static Stat stat(double[] values) {
        if (values.length == 0) {
            return new Stat(0, 0, 0);
        }
        double[] sorted = values.clone();
        java.util.Arrays.sort(sorted);
        int n = sorted.length;
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        return new Stat(median, sorted[0], sorted[n - 1]);
    }

    private static void print(Report report) {
        System.out.printf(Locale.ROOT, "%nJava API: %s, %d threads, up to %d tokens per prompt, temperature 0%n",
                report.model(), report.threads(), report.tokensPerPrompt());
        System.out.printf(Locale.ROOT, "(per prompt: median [least, greatest])%n");
        System.out.printf(Locale.ROOT, "%-11s %-12s %7s %6s %7s %8s %5s %26s %23s %9s %8s%n", "set", "strategy", "tokens",
                "steps", "drafted", "accepted", "tau", "tokens/s", "speedup", "ttft ms", "diverged");
        for (Result r : report.results()) {
            Stat t = r.tokensPerSecond();
            Stat x = r.speedup();
            System.out.printf(Locale.ROOT, "%-11s %-12s %7d %6d %7d %8d %5.2f %8.1f [%7.1f, %7.1f] %6.3f [%6.3f, %6.3f] %9.1f %8d%n",
                    r.set(), r.strategy(), r.generated(), r.steps(), r.drafted(), r.accepted(), r.tau(),
                    t.median(), t.min(), t.max(), x.median(), x.min(), x.max(), r.ttftMillis().median(),
                    r.divergedPrompts().size());
        }
    }

}
