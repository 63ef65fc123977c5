package dev.llamaspec.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.GenerationStats;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.Speculation;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The Java side of specbench: the same prompt sets, generated through the Java API and JNI, so that
 * the path Java applications take is measured too. Prompts come from the JSON that the C++
 * {@code llamaspec-specbench} wrote ({@code --prompts-from}); results are printed and written as JSON.
 *
 * <pre>
 * SpecBench --model FILE --prompts-from specbench.json [--strategies none,lookup,recycling,lookahead,auto,auto-fixed]
 *           [--tokens 128]
 *           [--threads 2] [--json FILE]
 * </pre>
 */
public final class SpecBench {
    /** One prompt generated with one strategy. */
    public record Run(int promptTokens, int generated, int steps, int drafted, int accepted, double decodeMillis,
            double ttftMillis) {
        double tokensPerSecond() {
            return decodeMillis > 0 ? generated * 1000.0 / decodeMillis : 0;
        }
    }

    /** Mean and standard deviation over prompts. */
    public record Stat(double mean, double stddev) {}

    /** A strategy's results on one prompt set. */
    public record Result(String set, String strategy, int generated, int steps, int drafted, int accepted, double tau,
            Stat tokensPerSecond, Stat speedup, Stat ttftMillis, List<Integer> divergedPrompts, List<Run> perPrompt) {}

    public record Report(String model, int threads, int tokensPerPrompt, String date, List<Result> results) {}

    public static void main(String[] args) throws Exception {
        Path modelPath = null;
        Path promptsFrom = null;
        Path jsonOut = null;
        List<String> strategies = new ArrayList<>(List.of("none"));
        int tokens = 128;
        int threads = 2;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--model": modelPath = Paths.get(args[++i]); break;
                case "--prompts-from": promptsFrom = Paths.get(args[++i]); break;
                case "--json": jsonOut = Paths.get(args[++i]); break;
                case "--strategies": strategies = new ArrayList<>(List.of(args[++i].split(","))); break;
                case "--tokens": tokens = Integer.parseInt(args[++i]); break;
                case "--threads": threads = Integer.parseInt(args[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (modelPath == null || promptsFrom == null) {
            throw new IllegalArgumentException("--model and --prompts-from are required");
        }
        if (!strategies.get(0).equals("none")) {
            strategies.add(0, "none"); // the baseline is always measured, first
        }
        List<Speculation> speculations = new ArrayList<>();
        for (String s : strategies) {
            // as in llamaspec-specbench, a "-fixed" suffix turns the hardware-aware budget off
            boolean fixed = s.endsWith("-fixed");
            Speculation speculation = Speculation.parse(fixed ? s.substring(0, s.length() - "-fixed".length()) : s);
            speculations.add(fixed ? speculation.withBudget(false) : speculation);
        }
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        Map<String, List<String>> sets = new LinkedHashMap<>();
        for (JsonNode set : json.readTree(promptsFrom.toFile()).get("prompt_sets")) {
            List<String> prompts = new ArrayList<>();
            set.get("prompts").forEach(p -> prompts.add(p.asText()));
            sets.put(set.get("name").asText(), prompts);
        }

        List<Result> results = new ArrayList<>();
        try (LlamaModel model = LlamaModel.load(modelPath, ModelOptions.builder().threads(threads).build());
             Session session = model.newSession(SessionOptions.builder().contextSize(2048).build())) {
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
                    results.add(summarise(set.getKey(), strategies.get(k), runs.get(k), runs.get(0), outputs.get(k),
                            outputs.get(0)));
                }
            }
        }
        Report report = new Report(modelPath.toString(), threads, tokens, java.time.Instant.now().toString(), results);
        print(report);
        if (jsonOut != null) {
            json.writeValue(jsonOut.toFile(), report);
        }
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

    private static Stat stat(double[] values) {
        double mean = 0;
        for (double v : values) {
            mean += v;
        }
        mean /= values.length;
        double var = 0;
        for (double v : values) {
            var += (v - mean) * (v - mean);
        }
        return new Stat(mean, values.length > 1 ? Math.sqrt(var / (values.length - 1)) : 0);
    }

    private static void print(Report report) {
        System.out.printf(Locale.ROOT, "%nJava API: %s, %d threads, up to %d tokens per prompt, temperature 0%n",
                report.model(), report.threads(), report.tokensPerPrompt());
        System.out.printf(Locale.ROOT, "%-11s %-12s %7s %6s %7s %8s %5s %16s %16s %9s %8s%n", "set", "strategy", "tokens",
                "steps", "drafted", "accepted", "tau", "tokens/s", "speedup", "ttft ms", "diverged");
        for (Result r : report.results()) {
            System.out.printf(Locale.ROOT, "%-11s %-12s %7d %6d %7d %8d %5.2f %8.1f ± %5.1f %7.3f ± %5.3f %9.1f %8d%n",
                    r.set(), r.strategy(), r.generated(), r.steps(), r.drafted(), r.accepted(), r.tau(),
                    r.tokensPerSecond().mean(), r.tokensPerSecond().stddev(), r.speedup().mean(), r.speedup().stddev(),
                    r.ttftMillis().mean(), r.divergedPrompts().size());
        }
    }

    private SpecBench() {}
}
