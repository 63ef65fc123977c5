package dev.llamaspec.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaException;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.examples.cli.CliSupport;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Plain decoding speed of the Java API next to llama.cpp's own {@code llama-bench -p 0 -n N}, on the
 * same model and thread count, in one run. Rounds alternate between the two, the order changing from round
 * to round, so that both see the same machine load; each side loads the model afresh in every round and
 * decodes while nothing else holds it (see {@code measure}). Each prints decode tokens per second (median
 * over rounds and half its range), the ratio of the medians, and the median of the rounds' own ratios with
 * the smallest and largest: a round's two runs follow each other, so its ratio does not carry the machine's
 * drift between rounds.
 *
 * <pre>
 * PlainBench [--model FILE]... [--tokens 128] [--threads 2] [--rounds 5] [--flash-attn auto|off|on|both]
 *            [--load-mode mmap|none] [--llama-bench PATH]
 *
 * Flash attention is set the same way on both sides: auto (the default) is each side's own default, llama.cpp's
 * choice (on where the backend supports it); both measures off and then on. So is the load mode: mmap (the
 * default) maps the model's file, none reads it into memory (ModelOptions.mmap, llama-bench's -lm).
 * </pre>
 *
 * <p>Exit codes: 0 done, 1 a model is not there or could not be loaded or llama-bench failed, 2 bad
 * arguments. The conventions of every llamaspec command line are in {@link CliSupport}.
 */
@Command(name = "PlainBench", sortOptions = false, usageHelpAutoWidth = true, mixinStandardHelpOptions = true,
        versionProvider = CliSupport.Version.class,
        description = {"Plain decoding speed of the Java API next to llama.cpp's llama-bench -p 0 -n N, on the same"
                + " model and threads; rounds alternate between the two.",
            "Flash attention is set the same way on both sides: auto (the default) is each side's own default,"
                + " llama.cpp's choice; both measures off and then on."},
        footer = {"", "Exit codes: 0 done, 1 a model is not there or could not be loaded or llama-bench failed,"
                + " 2 bad arguments (also no --model where the default model is not there)."})
public final class PlainBench implements Callable<Integer> {
    static final String DEFAULT_MODEL = "../shared/models/stories260K.gguf";

    /** The model's file mapped (ModelOptions.mmap(true), llama-bench -lm mmap) or read into memory (none). */
    enum LoadMode { mmap, none }

    /** Flash attention: both sides' default (auto), off, on, or each model measured off and on. */
    enum FlashAttentionMode {
        auto(List.of(SessionOptions.FlashAttention.AUTO)),
        off(List.of(SessionOptions.FlashAttention.OFF)),
        on(List.of(SessionOptions.FlashAttention.ON)),
        both(List.of(SessionOptions.FlashAttention.OFF, SessionOptions.FlashAttention.ON));

        final List<SessionOptions.FlashAttention> settings;

        FlashAttentionMode(List<SessionOptions.FlashAttention> settings) {
            this.settings = settings;
        }
    }

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "FILE", description = "a GGUF model; repeat for more (default: "
            + DEFAULT_MODEL + ")")
    List<Path> models = new ArrayList<>();

    @Option(names = "--tokens", paramLabel = "N", defaultValue = "128",
            description = "tokens decoded per round, at least 1 (default: ${DEFAULT-VALUE})")
    int tokens;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "2",
            description = "threads on both sides, 1 to 512 (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--rounds", paramLabel = "N", defaultValue = "5",
            description = "rounds per model, at least 1; the median is shown (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--flash-attn", paramLabel = "MODE", defaultValue = "auto",
            description = "auto (each side's default), off, on or both (default: ${DEFAULT-VALUE})")
    FlashAttentionMode flashAttention;

    @Option(names = "--load-mode", paramLabel = "MODE", defaultValue = "mmap",
            description = "mmap (map the model's file) or none (read it into memory), both sides"
                + " (default: ${DEFAULT-VALUE})")
    LoadMode loadMode;

    @Option(names = "--llama-bench", paramLabel = "PATH", defaultValue = "llama-bench",
            description = "llama.cpp's llama-bench (default: ${DEFAULT-VALUE}, from PATH)")
    String llamaBench;

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the benchmark and returns its exit code. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        return CliSupport.commandLine(new PlainBench(), out, err).execute(args);
    }

    @Override
    public Integer call() throws Exception {
        CliSupport.range(spec, "--tokens", tokens, 1, 1 << 20);
        CliSupport.range(spec, "--threads", threads, 1, 512);
        CliSupport.range(spec, "--rounds", rounds, 1, 1 << 20);
        if (models.isEmpty()) {
            Path model = Paths.get(DEFAULT_MODEL);
            if (!Files.isRegularFile(model)) {
                throw CliSupport.bad(spec, "no model given and the default " + DEFAULT_MODEL + " is not there (looked"
                        + " in " + Paths.get("").toAbsolutePath() + "): pass --model FILE, or run from the repository"
                        + " root");
            }
            models.add(model);
        }
        for (Path model : models) {
            CliSupport.requireFile("--model", model);
        }
        PrintWriter out = spec.commandLine().getOut();
        out.printf(Locale.ROOT, "plain decoding, %d tokens, %d threads, %d rounds, %d cores, model files %s%n", tokens,
                threads, rounds, Runtime.getRuntime().availableProcessors(),
                loadMode == LoadMode.mmap ? "mapped" : "read into memory");
        out.printf(Locale.ROOT, "%-44s %5s %18s %18s %8s %24s%n", "model", "FA", "llama-bench t/s",
                "Java API t/s", "ratio", "per round [min, max]");
        out.flush();
        for (Path model : models) {
            for (SessionOptions.FlashAttention fa : flashAttention.settings) {
                measure(out, model, tokens, threads, rounds, llamaBench, loadMode, fa);
            }
        }
        return 0;
    }

    private static void measure(PrintWriter out, Path path, int tokens, int threads, int rounds, String llamaBench,
            LoadMode loadMode, SessionOptions.FlashAttention fa) throws Exception {
        double[] reference = new double[rounds];
        double[] ours = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            // Each side loads the model afresh in every round and decodes while nothing else holds it: on a
            // virtual machine a process's decoding speed depends on where its memory lands, by 10 % and more
            // (measured: a process decodes faster while another process holds the loaded model), so neither
            // side may run while the other keeps its weights. The order alternates against drift; the Java
            // side goes first, so that a file that is not a model fails as such before llama-bench runs.
            if (r % 2 == 0) {
                ours[r] = javaRound(path, tokens, threads, loadMode, fa, r == 0 ? 3 : 1);
                reference[r] = llamaBench(llamaBench, path, tokens, threads, loadMode, fa);
            } else {
                reference[r] = llamaBench(llamaBench, path, tokens, threads, loadMode, fa);
                ours[r] = javaRound(path, tokens, threads, loadMode, fa, 1);
            }
        }
        double ref = median(reference);
        double java = median(ours);
        // Each round's pair ran back to back, so its ratio is free of the drift between rounds that
        // moves both medians (on a shared virtual machine, by more than the differences measured).
        double[] paired = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            paired[r] = ours[r] / reference[r];
        }
        double[] sorted = paired.clone();
        Arrays.sort(sorted);
        out.printf(Locale.ROOT, "%-44s %5s %10.1f ± %5.1f %10.1f ± %5.1f %8.3f %8.3f [%.3f, %.3f]%n",
                path.getFileName(), fa.name().toLowerCase(Locale.ROOT), ref, spread(reference), java, spread(ours),
                java / ref, median(paired), sorted[0], sorted[rounds - 1]);
        out.flush();
    }

    /**
     * One round of the Java API: loads the model, warms up (llama-bench warms up too, and the JIT needs it),
     * decodes {@code tokens} tokens one at a time from the start, the same work as llama-bench's tg test,
     * and closes the model; returns tokens per second.
     */
    private static double javaRound(Path path, int tokens, int threads, LoadMode loadMode,
            SessionOptions.FlashAttention fa, int warmUps) throws Exception {
        LlamaModel loaded;
        try {
            loaded = LlamaModel.load(path,
                    ModelOptions.builder().threads(threads).mmap(loadMode == LoadMode.mmap).build());
        } catch (LlamaException e) {
            throw CliSupport.loadFailure("--model", e);
        }
        try (LlamaModel model = loaded;
             Session session = model.newSession(SessionOptions.builder().contextSize(tokens + 64)
                     .flashAttention(fa).build())) {
            GenerationOptions options = GenerationOptions.builder().temperature(0).maxTokens(tokens + 1).build();
            int[] bos = model.tokenize("", true, false);
            for (int w = 0; w < warmUps; w++) {
                session.generate(bos, options);
            }
            session.reset();
            Generation g = session.generate(bos, options);
            if (g.stats().generatedTokens() != tokens + 1) {
                throw new CliSupport.Failure(path + ": the model stopped after " + g.stats().generatedTokens()
                        + " tokens; pick fewer --tokens", null);
            }
            // tokens after the first: each took exactly one decode of one token
            return g.stats().tokensPerSecond();
        }
    }

    private static double llamaBench(String binary, Path model, int tokens, int threads, LoadMode loadMode,
            SessionOptions.FlashAttention fa) throws Exception {
        Process p;
        try {
            p = new ProcessBuilder(binary, "-m", model.toString(), "-p", "0", "-n", Integer.toString(tokens), "-t",
                Integer.toString(threads), "-fa", fa.name().toLowerCase(Locale.ROOT), "-lm", loadMode.name(), "-r", "1",
                "-o", "json")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            throw new CliSupport.Failure("--llama-bench " + binary + ": cannot run it: " + e.getMessage(), e);
        }
        byte[] out;
        try (InputStream in = p.getInputStream()) {
            ByteArrayOutputStream buffer = new ByteArrayOutputStream();
            in.transferTo(buffer);
            out = buffer.toByteArray();
        }
        if (p.waitFor() != 0) {
            throw new CliSupport.Failure("--llama-bench " + binary + " failed with exit code " + p.exitValue(), null);
        }
        JsonNode result = new ObjectMapper().readTree(new String(out, StandardCharsets.UTF_8));
        return result.get(0).get("avg_ts").asDouble();
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /** Half the range between the smallest and largest value. */
    private static double spread(double[] values) {
        double min = Double.MAX_VALUE;
        double max = -Double.MAX_VALUE;
        for (double v : values) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        return (max - min) / 2;
    }

}
