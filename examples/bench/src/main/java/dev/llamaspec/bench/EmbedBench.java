package dev.llamaspec.bench;

import dev.llamaspec.EmbeddingOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.examples.cli.CliSupport;
import java.io.IOException;
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
 * Embedding throughput of the Java API: the same texts one call per text and in one batched call,
 * rounds alternating, texts per second as the median over rounds with the slowest and fastest.
 *
 * <pre>
 * java -cp llamaspec-bench.jar dev.llamaspec.bench.EmbedBench [--model FILE] [--corpus FILE] [--texts 64]
 *      [--threads 2] [--rounds 5]
 * </pre>
 *
 * <p>The texts are the first sentences of the corpus's stories. Exit codes: 0 done, 1 a file is not
 * there or the model could not be loaded, 2 bad arguments.
 */
@Command(name = "EmbedBench", sortOptions = false, usageHelpAutoWidth = true, mixinStandardHelpOptions = true,
        versionProvider = CliSupport.Version.class,
        description = "Embedding throughput of the Java API: one call per text against one batched call, rounds"
                + " alternating.",
        footer = {"", "Exit codes: 0 done, 1 a file is not there or the model could not be loaded, 2 bad arguments."})
public final class EmbedBench implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "FILE", defaultValue = PlainBench.DEFAULT_MODEL,
            description = "the GGUF model (default: ${DEFAULT-VALUE})")
    Path model;

    @Option(names = "--corpus", paramLabel = "FILE", defaultValue = "../shared/corpus/tinystories_train_sample.txt",
            description = "stories separated by <|endoftext|> (default: ${DEFAULT-VALUE})")
    Path corpus;

    @Option(names = "--texts", paramLabel = "N", defaultValue = "64",
            description = "texts per round, 1 to 100000 (default: ${DEFAULT-VALUE})")
    int texts;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "2",
            description = "threads, 1 to 512 (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--rounds", paramLabel = "N", defaultValue = "5",
            description = "rounds, at least 1 (default: ${DEFAULT-VALUE})")
    int rounds;

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        return CliSupport.commandLine(new EmbedBench(), out, err).execute(args);
    }

    @Override
    public Integer call() throws IOException {
        CliSupport.range(spec, "--texts", texts, 1, 100_000);
        CliSupport.range(spec, "--threads", threads, 1, 512);
        CliSupport.range(spec, "--rounds", rounds, 1, 1 << 20);
        CliSupport.requireFile("--model", model);
        CliSupport.requireFile("--corpus", corpus);
        List<String> inputs = new ArrayList<>();
        for (String story : Files.readString(corpus, StandardCharsets.UTF_8).split("<\\|endoftext\\|>")) {
            String s = story.strip();
            int end = s.indexOf(". ");
            if (end > 0 && inputs.size() < texts) {
                inputs.add(s.substring(0, end + 1));
            }
        }
        if (inputs.size() < texts) {
            throw CliSupport.bad(spec, "--texts " + texts + ": the corpus has only " + inputs.size() + " stories");
        }
        PrintWriter out = spec.commandLine().getOut();
        try (LlamaModel m = LlamaModel.load(model, ModelOptions.builder().threads(threads).build())) {
            EmbeddingOptions options = EmbeddingOptions.defaults();
            m.embed(inputs, options); // the embedding context, made once
            double[] single = new double[rounds];
            double[] batched = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                long t0 = System.nanoTime();
                for (String text : inputs) {
                    m.embed(List.of(text), options);
                }
                single[r] = inputs.size() / ((System.nanoTime() - t0) / 1e9);
                t0 = System.nanoTime();
                m.embed(inputs, options);
                batched[r] = inputs.size() / ((System.nanoTime() - t0) / 1e9);
            }
            out.printf(Locale.ROOT, "embeddings: %s (%s), %d texts, %d threads, %d rounds, pooling %s%n",
                    model, m.info().description(), inputs.size(), threads, rounds, m.embeddingPooling(options));
            out.printf(Locale.ROOT, "%-22s %12s %12s %12s%n", "", "texts/s", "min", "max");
            row(out, "one call per text", single);
            row(out, "one batched call", batched);
            out.printf(Locale.ROOT, "batched / one per text: %.2fx (medians)%n", median(batched) / median(single));
        }
        out.flush();
        return 0;
    }

    private static void row(PrintWriter out, String label, double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        out.printf(Locale.ROOT, "%-22s %12.1f %12.1f %12.1f%n", label, median(values), sorted[0], sorted[sorted.length - 1]);
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
