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
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

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
 */
public final class Soak {
    private static final List<Speculation> STRATEGIES = List.of(Speculation.none(), Speculation.promptLookup(),
            Speculation.tokenRecycling(), Speculation.lookahead(), Speculation.auto(),
            Speculation.auto().withBudget(false), Speculation.lookahead(4, 3, 4).withBudget(false));

    public static void main(String[] args) throws Exception {
        Path model = null;
        double minutes = 5;
        int threads = 2;
        double maxRssGrowthMb = 32;
        double maxHeapGrowthMb = 16;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--model": model = Paths.get(args[++i]); break;
                case "--minutes": minutes = Double.parseDouble(args[++i]); break;
                case "--threads": threads = Integer.parseInt(args[++i]); break;
                case "--max-rss-growth-mb": maxRssGrowthMb = Double.parseDouble(args[++i]); break;
                case "--max-heap-growth-mb": maxHeapGrowthMb = Double.parseDouble(args[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (model == null) {
            throw new IllegalArgumentException("--model is required");
        }
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
        System.out.printf(Locale.ROOT, "%8s %6s %9s %9s %8s %9s%n", "seconds", "rounds", "rss MB", "heap MB", "threads",
                "tokens");
        while (System.nanoTime() < end) {
            try (LlamaModel m = LlamaModel.load(model, ModelOptions.builder().threads(threads).build())) {
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
                System.out.printf(Locale.ROOT, "%8.0f %6d %9.1f %9.1f %8.0f %9d%n", sample[0], rounds, sample[1], sample[2],
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
        System.out.printf(Locale.ROOT, "rounds %d (each: load a model, 3 sessions x 4 generations + 1 rejected prompt), "
                + "%d tokens, %d expected errors%n", rounds, tokens, expectedErrors);
        System.out.printf(Locale.ROOT, "RSS: first-half peak %.1f MB, second-half peak %.1f MB (growth %.1f MB, allowed %.1f)%n",
                rssFirst, rssSecond, rssSecond - rssFirst, maxRssGrowthMb);
        System.out.printf(Locale.ROOT, "heap after GC: first-half peak %.1f MB, second-half peak %.1f MB (growth %.1f MB, "
                + "allowed %.1f)%n", heapFirst, heapSecond, heapSecond - heapFirst, maxHeapGrowthMb);
        System.out.printf(Locale.ROOT, "threads started during the run and still alive: %d %s%n", left.size(),
                left.stream().map(t -> t.getName() + (t.isDaemon() ? " (daemon)" : "")).collect(Collectors.toList()));
        boolean ok = samples.size() >= 4 && rssSecond - rssFirst <= maxRssGrowthMb
                && heapSecond - heapFirst <= maxHeapGrowthMb && left.stream().noneMatch(t -> !t.isDaemon())
                && expectedErrors == rounds * 3;
        System.out.println(ok ? "soak: PASS" : "soak: FAIL" + (samples.size() < 4 ? " (too short to judge)" : ""));
        if (!ok) {
            System.exit(1);
        }
        // returning from main must end the JVM: no non-daemon thread of ours is left
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
