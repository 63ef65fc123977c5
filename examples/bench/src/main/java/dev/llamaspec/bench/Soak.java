package dev.llamaspec.bench;

import dev.llamaspec.Generation;
import dev.llamaspec.GenerationHandler;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaException;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.Speculation;
import dev.llamaspec.TextChunk;
import dev.llamaspec.TokenStream;
import dev.llamaspec.examples.cli.CliSupport;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Soak test: for a fixed time, loads and closes models, opens and closes sessions and generates in
 * every mode (blocking, streamed and closed early, cancelled from another thread, async, every
 * speculation strategy, bad input that must fail cleanly), and samples native memory (RSS), the
 * JVM heap after a collection and the live threads. Memory must stay flat: the run fails when the
 * RSS or heap of the second half exceeds the first half's peak by more than the allowed growth.
 * After everything is closed no thread of ours may be left, and the JVM must exit on its own.
 *
 * <pre>
 * Soak --model FILE [--minutes 5] [--threads 2] [--max-rss-growth-mb 32] [--max-heap-growth-mb 16]
 * </pre>
 *
 * <p>Exit codes: 0 passed, 1 failed (or the model is not there or could not be loaded), 2 bad arguments.
 * The conventions of every llamaspec command line are in {@link CliSupport};
 * unlike the other programs, a passing run returns from main instead of calling System.exit, so that a
 * thread left behind keeps the JVM alive and ci/soak's timeout catches it.
 */
@Command(name = "Soak", sortOptions = false, usageHelpAutoWidth = true, mixinStandardHelpOptions = true,
        versionProvider = CliSupport.Version.class,
        description = {"Soak test: models and sessions created and closed, generations of every kind, for a fixed"
                + " time; native memory (RSS), heap and threads must stay flat, and the JVM must exit by itself."},
        footer = {"", "Exit codes: 0 passed, 1 failed (or the model is not there or could not be loaded), 2 bad"
                + " arguments."})
public final class Soak implements Callable<Integer> {
    private static final List<Speculation> STRATEGIES = List.of(Speculation.none(), Speculation.promptLookup(),
            Speculation.tokenRecycling(), Speculation.lookahead(), Speculation.auto(),
            Speculation.auto().withBudget(false), Speculation.lookahead(4, 3, 4).withBudget(false));

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "FILE", required = true, description = "the GGUF model")
    Path model;

    @Option(names = "--minutes", paramLabel = "M", defaultValue = "5",
            description = "how long to run, above 0 (default: ${DEFAULT-VALUE})")
    double minutes;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "2",
            description = "threads, 1 to 512 (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--max-rss-growth-mb", paramLabel = "MB", defaultValue = "32",
            description = "allowed growth of the RSS peak from the first half to the second, at least 0"
                    + " (default: ${DEFAULT-VALUE})")
    double maxRssGrowthMb;

    @Option(names = "--max-heap-growth-mb", paramLabel = "MB", defaultValue = "16",
            description = "allowed growth of the heap peak after GC, at least 0 (default: ${DEFAULT-VALUE})")
    double maxHeapGrowthMb;

    public static void main(String[] args) {
        int code = run(args, System.out, System.err);
        if (code != 0) {
            System.exit(code);
        }
        // returning from main must end the JVM: no non-daemon thread of ours is left
    }

    /** Runs the soak test and returns its exit code. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        return CliSupport.commandLine(new Soak(), out, err).execute(args);
    }

    @Override
    public Integer call() throws Exception {
        CliSupport.atLeast(spec, "--minutes", minutes, 0, false);
        CliSupport.range(spec, "--threads", threads, 1, 512);
        CliSupport.atLeast(spec, "--max-rss-growth-mb", maxRssGrowthMb, 0, true);
        CliSupport.atLeast(spec, "--max-heap-growth-mb", maxHeapGrowthMb, 0, true);
        CliSupport.requireFile("--model", model);
        PrintWriter out = spec.commandLine().getOut();
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        long end = System.nanoTime() + (long) (minutes * 60e9);
        long start = System.nanoTime();
        List<double[]> samples = new ArrayList<>(); // seconds, rss MB, heap MB, threads
        long nextSample = 0;
        int rounds = 0;
        long tokens = 0;
        int expectedErrors = 0;
        ExecutorService canceller = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "soak-canceller");
            t.setDaemon(true);
            return t;
        });
        out.printf(Locale.ROOT, "%8s %6s %9s %9s %8s %9s%n", "seconds", "rounds", "rss MB", "heap MB", "threads",
                "tokens");
        while (System.nanoTime() < end) {
            try (LlamaModel m = load(model, threads)) {
                for (int s = 0; s < 3; s++) {
                    try (Session session = m.newSession(SessionOptions.builder().contextSize(512).build())) {
                        Speculation spec = STRATEGIES.get((rounds + s) % STRATEGIES.size());
                        GenerationOptions options = GenerationOptions.builder().maxTokens(48).seed(rounds + s)
                                .temperature(s == 0 ? 0 : 0.8f).speculation(spec).build();
                        // blocking
                        tokens += session.generate("Once upon a time", options).tokens().length;
                        // streamed, closed after a few chunks
                        try (TokenStream stream = session.stream("Tom had a red ball. Tom had a", options)) {
                            int n = 0;
                            for (TextChunk chunk : stream) {
                                if (++n == 5) {
                                    break;
                                }
                            }
                        }
                        // cancelled from another thread
                        CompletableFuture<?> cancel = CompletableFuture.runAsync(() -> {
                            sleep(2);
                            session.cancel();
                        }, canceller);
                        Generation cancelled = session.generate("Lily and Ben went to the park.",
                                options.toBuilder().maxTokens(400).build());
                        cancel.get(10, TimeUnit.SECONDS);
                        tokens += cancelled.tokens().length;
                        // async
                        tokens += session.generateAsync("The sun was", options, new GenerationHandler() { }).get().tokens().length;
                        // bad input fails cleanly and leaves the session usable
                        try {
                            session.generate("x".repeat(4000), options);
                        } catch (LlamaException expected) {
                            expectedErrors++;
                        }
                    }
                }
            }
            rounds++;
            long now = System.nanoTime();
            if (now >= nextSample) {
                double[] sample = sample((now - start) / 1e9, tokens);
                samples.add(sample);
                out.printf(Locale.ROOT, "%8.0f %6d %9.1f %9.1f %8.0f %9d%n", sample[0], rounds, sample[1], sample[2],
                        sample[3], tokens);
                nextSample = now + 15_000_000_000L;
            }
        }
        canceller.shutdownNow();
        canceller.awaitTermination(5, TimeUnit.SECONDS);
        double[] last = sample((System.nanoTime() - start) / 1e9, tokens);
        samples.add(last);

        // Flat memory: the second half's peak against the first half's peak (the first sample, taken
        // after the first round, already holds what is allocated once: code, caches, the JIT).
        int half = samples.size() / 2;
        double rssFirst = 0, rssSecond = 0, heapFirst = 0, heapSecond = 0;
        for (int i = 0; i < samples.size(); i++) {
            double[] x = samples.get(i);
            if (i < half) {
                rssFirst = Math.max(rssFirst, x[1]);
                heapFirst = Math.max(heapFirst, x[2]);
            } else {
                rssSecond = Math.max(rssSecond, x[1]);
                heapSecond = Math.max(heapSecond, x[2]);
            }
        }
        Set<Thread> left = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> !before.contains(t) && t.isAlive() && !t.getName().startsWith("Common-Cleaner"))
                .collect(Collectors.toSet());
        out.printf(Locale.ROOT, "rounds %d (each: load a model, 3 sessions x 4 generations + 1 rejected prompt), "
                + "%d tokens, %d expected errors%n", rounds, tokens, expectedErrors);
        out.printf(Locale.ROOT, "RSS: first-half peak %.1f MB, second-half peak %.1f MB (growth %.1f MB, allowed %.1f)%n",
                rssFirst, rssSecond, rssSecond - rssFirst, maxRssGrowthMb);
        out.printf(Locale.ROOT, "heap after GC: first-half peak %.1f MB, second-half peak %.1f MB (growth %.1f MB, "
                + "allowed %.1f)%n", heapFirst, heapSecond, heapSecond - heapFirst, maxHeapGrowthMb);
        out.printf(Locale.ROOT, "threads started during the run and still alive: %d %s%n", left.size(),
                left.stream().map(t -> t.getName() + (t.isDaemon() ? " (daemon)" : "")).collect(Collectors.toList()));
        boolean ok = samples.size() >= 4 && rssSecond - rssFirst <= maxRssGrowthMb
                && heapSecond - heapFirst <= maxHeapGrowthMb && left.stream().noneMatch(t -> !t.isDaemon())
                && expectedErrors == rounds * 3;
        out.println(ok ? "soak: PASS" : "soak: FAIL" + (samples.size() < 4 ? " (too short to judge)" : ""));
        out.flush();
        return ok ? 0 : CliSupport.FAILURE;
    }

    private static LlamaModel load(Path model, int threads) {
        try {
            return LlamaModel.load(model, ModelOptions.builder().threads(threads).build());
        } catch (LlamaException e) {
            throw CliSupport.loadFailure("--model", e);
        }
    }

    private static double[] sample(double seconds, long tokens) {
        System.gc();
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        double heap = memory.getHeapMemoryUsage().getUsed() / 1048576.0;
        return new double[] {seconds, rssMb(), heap, Thread.activeCount(), tokens};
    }

    private static double rssMb() {
        try {
            for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // not Linux: no RSS
        }
        return 0;
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
