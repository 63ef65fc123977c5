package dev.llamaspec.examples.generate;

import dev.llamaspec.GenerationOptions;
import dev.llamaspec.GenerationStats;
import dev.llamaspec.LlamaException;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelInfo;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.Session;
import dev.llamaspec.TextChunk;
import dev.llamaspec.TokenStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Locale;

/**
 * Generates a continuation of a prompt and streams it to the terminal.
 *
 * <pre>
 * java -jar llamaspec-generate.jar [--model FILE] [--tokens N] [--temperature T] [--seed S] [--threads N] [PROMPT]
 * </pre>
 */
public final class Generate {
    private static final String DEFAULT_MODEL = "../shared/models/stories260K.gguf";

    public static void main(String[] args) {
        Path model = Paths.get(DEFAULT_MODEL);
        int tokens = 128;
        float temperature = 0f;
        long seed = -1;
        int threads = 0;
        String prompt = "Once upon a time";
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--model": model = Paths.get(value(args, ++i)); break;
                    case "--tokens": tokens = Integer.parseInt(value(args, ++i)); break;
                    case "--temperature": temperature = Float.parseFloat(value(args, ++i)); break;
                    case "--seed": seed = Long.parseLong(value(args, ++i)); break;
                    case "--threads": threads = Integer.parseInt(value(args, ++i)); break;
                    case "-h": case "--help": usage(); return;
                    default:
                        if (args[i].startsWith("--")) {
                            throw new IllegalArgumentException("unknown option " + args[i]);
                        }
                        prompt = args[i];
                }
            }
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            usage();
            System.exit(2);
        }
        if (!Files.exists(model)) {
            System.err.println("error: model not found: " + model.toAbsolutePath()
                    + "\n  pass --model FILE.gguf (the project's tests use ../shared/models/stories260K.gguf)");
            System.exit(2);
        }
        try {
            GenerationOptions.Builder options = GenerationOptions.builder().maxTokens(tokens).temperature(temperature);
            if (seed >= 0) {
                options.seed(seed);
            }
            run(model, ModelOptions.builder().threads(threads).build(), prompt, options.build());
        } catch (LlamaException | IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(1);
        }
    }

    private static void run(Path path, ModelOptions modelOptions, String prompt, GenerationOptions options) {
        try (LlamaModel model = LlamaModel.load(path, modelOptions); Session session = model.newSession()) {
            ModelInfo info = model.info();
            System.err.printf(Locale.ROOT, "model: %s (%s, %,d parameters, vocabulary %d)%n",
                    info.name().isEmpty() ? path.getFileName() : info.name(), info.description(),
                    info.parameterCount(), info.vocabularySize());
            System.out.print(prompt);
            try (TokenStream stream = session.stream(prompt, options)) {
                for (TextChunk chunk : stream) {
                    System.out.print(chunk.text());
                    System.out.flush();
                }
                System.out.println();
                GenerationStats stats = stream.result().stats();
                System.err.printf(Locale.ROOT, "[%d prompt tokens in %.1f ms, %d tokens at %.1f tokens/s, stop: %s]%n",
                        stats.promptTokens(), stats.promptMillis(), stats.generatedTokens(), stats.tokensPerSecond(),
                        stream.result().stopReason());
            }
        }
    }

    private static String value(String[] args, int i) {
        if (i >= args.length) {
            throw new IllegalArgumentException(args[i - 1] + " needs a value");
        }
        return args[i];
    }

    private static void usage() {
        System.err.println("usage: generate [--model FILE] [--tokens N] [--temperature T] [--seed S] [--threads N] [PROMPT]");
    }

    private Generate() {}
}
