package dev.llamaspec.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Plain decoding speed of the Java API next to llama.cpp's own {@code llama-bench -p 0 -n N}, on the
 * same model and thread count, in one run. Rounds alternate (llama-bench, then the Java API) so that
 * both see the same machine load; each prints decode tokens per second.
 *
 * <pre>
 * PlainBench --model FILE [--model FILE...] [--tokens 128] [--threads 2] [--rounds 5] [--flash-attn off|on|both]
 *            [--llama-bench PATH]
 *
 * Flash attention is set the same way on both sides (our sessions default to off, llama-bench to auto).
 * </pre>
 */
public final class PlainBench {
    public static void main(String[] args) throws Exception {
        List<Path> models = new ArrayList<>();
        int tokens = 128;
        int threads = 2;
        int rounds = 5;
        String llamaBench = "llama-bench";
        List<Boolean> flashAttention = List.of(false);
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--model": models.add(Paths.get(args[++i])); break;
                case "--tokens": tokens = Integer.parseInt(args[++i]); break;
                case "--threads": threads = Integer.parseInt(args[++i]); break;
                case "--rounds": rounds = Integer.parseInt(args[++i]); break;
                case "--llama-bench": llamaBench = args[++i]; break;
                case "--flash-attn":
                    String fa = args[++i];
                    flashAttention = fa.equals("both") ? List.of(false, true) : List.of(fa.equals("on"));
                    break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (models.isEmpty()) {
            models.add(Paths.get("../shared/models/stories260K.gguf"));
        }
        System.out.printf(Locale.ROOT, "plain decoding, %d tokens, %d threads, %d rounds, %d cores%n", tokens, threads,
                rounds, Runtime.getRuntime().availableProcessors());
        System.out.printf(Locale.ROOT, "%-44s %5s %18s %18s %8s%n", "model", "FA", "llama-bench t/s",
                "Java API t/s", "ratio");
        for (Path model : models) {
            for (boolean fa : flashAttention) {
                measure(model, tokens, threads, rounds, llamaBench, fa);
            }
        }
    }

    private static void measure(Path path, int tokens, int threads, int rounds, String llamaBench, boolean fa)
            throws Exception {
        double[] reference = new double[rounds];
        double[] ours = new double[rounds];
        try (LlamaModel model = LlamaModel.load(path, ModelOptions.builder().threads(threads).build());
             Session session = model.newSession(SessionOptions.builder().contextSize(tokens + 64)
                     .flashAttention(fa).build())) {
            // the same work as llama-bench's tg test: decode `tokens` tokens one at a time from the start
            GenerationOptions options = GenerationOptions.builder().temperature(0).maxTokens(tokens + 1).build();
            int[] bos = model.tokenize("", true, false);
            for (int w = 0; w < 3; w++) {
                session.generate(bos, options); // warm-up: llama-bench warms up too, and the JIT needs it
            }
            for (int r = 0; r < rounds; r++) {
                reference[r] = llamaBench(llamaBench, path, tokens, threads, fa);
                session.reset();
                Generation g = session.generate(bos, options);
                if (g.stats().generatedTokens() != tokens + 1) {
                    throw new IllegalStateException("the model stopped after " + g.stats().generatedTokens()
                            + " tokens; pick fewer tokens");
                }
                // tokens after the first: each took exactly one decode of one token
                ours[r] = g.stats().tokensPerSecond();
            }
        }
        double ref = median(reference);
        double java = median(ours);
        System.out.printf(Locale.ROOT, "%-44s %5s %10.1f ± %5.1f %10.1f ± %5.1f %8.3f%n", path.getFileName(),
                fa ? "on" : "off", ref, spread(reference), java, spread(ours), java / ref);
    }

    private static double llamaBench(String binary, Path model, int tokens, int threads, boolean fa)
            throws Exception {
        Process p = new ProcessBuilder(binary, "-m", model.toString(), "-p", "0", "-n", Integer.toString(tokens), "-t",
                Integer.toString(threads), "-fa", fa ? "1" : "0", "-r", "1", "-o", "json")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        byte[] out;
        try (InputStream in = p.getInputStream()) {
            ByteArrayOutputStream buffer = new ByteArrayOutputStream();
            in.transferTo(buffer);
            out = buffer.toByteArray();
        }
        if (p.waitFor() != 0) {
            throw new IllegalStateException(binary + " failed with exit code " + p.exitValue());
        }
        JsonNode result = new ObjectMapper().readTree(new String(out, StandardCharsets.UTF_8));
        return result.get(0).get("avg_ts").asDouble();
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        java.util.Arrays.sort(sorted);
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

    private PlainBench() {}
}
