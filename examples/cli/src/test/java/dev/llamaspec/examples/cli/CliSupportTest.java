package dev.llamaspec.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.llamaspec.GenerationOptions;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.Speculation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** The convention itself, on a small command; the programs' own tests hold them to it. */
class CliSupportTest {
    record Result(int code, String out, String err) {}

    @Command(name = "probe", mixinStandardHelpOptions = true, versionProvider = CliSupport.Version.class)
    static final class Probe implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--temperature", defaultValue = "${bundle:GenerationOptions.temperature}",
                description = "(default: ${DEFAULT-VALUE})")
        float temperature;

        @Option(names = "--ctx", defaultValue = "${bundle:SessionOptions.contextSize}",
                description = CliSupport.CTX_HELP)
        int ctx;

        @Option(names = "--model")
        Path model;

        @Option(names = "--seed", description = CliSupport.SEED_HELP)
        Long seed;

        @Override
        public Integer call() {
            CliSupport.seed(spec, seed);
            CliSupport.requireFile("--model", model);
            if (temperature > 50) {
                throw new IllegalArgumentException("temperature must be in [0, 50]");
            }
            return 0;
        }
    }

    static Result run(Probe probe, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = CliSupport.commandLine(probe, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8)).execute(args);
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void theLibrarysValuesAreTheApis() {
        CliSupport.LibraryValues v = CliSupport.LibraryValues.INSTANCE;
        GenerationOptions g = GenerationOptions.defaults();
        assertEquals(String.valueOf(g.temperature()), v.value("GenerationOptions.temperature"));
        assertEquals(String.valueOf(g.topK()), v.value("GenerationOptions.topK"));
        assertEquals(String.valueOf(g.topP()), v.value("GenerationOptions.topP"));
        assertEquals(String.valueOf(g.minP()), v.value("GenerationOptions.minP"));
        assertEquals(String.valueOf(g.repeatPenalty()), v.value("GenerationOptions.repeatPenalty"));
        assertEquals(String.valueOf(g.maxTokens()), v.value("GenerationOptions.maxTokens"));
        assertEquals(String.valueOf(SessionOptions.defaults().threads()), v.value("SessionOptions.threads"));
        assertEquals(String.valueOf(SessionOptions.defaults().contextSize()), v.value("SessionOptions.contextSize"));
        assertEquals(String.valueOf(SessionOptions.minContextSize()), v.value("SessionOptions.minContextSize"));
        assertEquals(String.valueOf(SessionOptions.maxContextSize()), v.value("SessionOptions.maxContextSize"));
        assertEquals("none, lookup, recycling, auto, lookahead, draft, medusa", v.value("Speculation.names"));
        assertEquals(String.valueOf(Speculation.auto().maxDraftTokens()), v.value("Speculation.maxDraftTokens"));
        Speculation.Lookahead l = Speculation.lookahead();
        assertEquals(l.windowWidth() + "," + l.ngramSize() + "," + l.maxCandidates(), v.value("Speculation.lookahead"));
        Speculation typical = Speculation.auto().withLossyTypicalAcceptance();
        assertEquals(String.valueOf(typical.typicalThreshold()), v.value("Speculation.typicalThreshold"));
        assertEquals(String.valueOf(typical.typicalAlpha()), v.value("Speculation.typicalAlpha"));
        assertNull(v.value("GenerationOptions.unknown"));
        for (String key : v.keySet()) {
            assertTrue(v.value(key) != null && !v.value(key).isEmpty(), key);
        }
    }

    @Test
    void defaultsAndHelpTextsComeFromTheLibrary() {
        Probe probe = new Probe();
        assertEquals(0, run(probe).code());
        assertEquals(GenerationOptions.defaults().temperature(), probe.temperature);
        assertEquals(SessionOptions.defaults().contextSize(), probe.ctx);

        String help = run(new Probe(), "--help").out().replaceAll("\\s+", " ");
        assertTrue(help.contains("(default: " + GenerationOptions.defaults().temperature() + ")"), help);
        assertTrue(help.contains("context size in tokens, " + SessionOptions.minContextSize() + " to "
                + SessionOptions.maxContextSize() + ", or 0"), help);
        assertTrue(help.contains("0 to " + CliSupport.MAX_SEED), help);
        assertTrue(help.contains("rounds it up to a multiple of 256, so 256 is the smallest context"), help);
    }

    @Test
    void aFileThatIsNotThereIsAFailureAndABadValueABadArgument(@TempDir Path dir) throws IOException {
        Path missing = dir.resolve("no-such.gguf");
        Result r = run(new Probe(), "--model", missing.toString());
        assertEquals(CliSupport.FAILURE, r.code());
        assertEquals("error: --model " + missing + ": no such file\n", r.err());
        r = run(new Probe(), "--model", dir.toString());
        assertEquals(CliSupport.FAILURE, r.code());
        assertEquals("error: --model " + dir + ": is a directory, not a file\n", r.err());
        assertEquals(0, run(new Probe(), "--model", Files.writeString(dir.resolve("m.gguf"), "x").toString()).code());

        r = run(new Probe(), "--seed", "-2");
        assertEquals(CliSupport.BAD_ARGUMENTS, r.code());
        assertTrue(r.err().startsWith("error: --seed must be in [0, 4294967294], or -1 for a random seed, got -2\n"
                + CliSupport.USAGE_HINT), r.err());
        r = run(new Probe(), "--temperature", "60");
        assertEquals(CliSupport.BAD_ARGUMENTS, r.code());
        assertTrue(r.err().startsWith("error: temperature must be in [0, 50]\n"), r.err());
        r = run(new Probe(), "extra");
        assertEquals(CliSupport.BAD_ARGUMENTS, r.code());
        assertTrue(r.err().startsWith("error: unexpected argument 'extra': probe takes no arguments besides its"
                + " options"), r.err());
    }

    @Test
    void theContextNoteAndTheFlagMessages() {
        assertNull(CliSupport.contextNote(0, 2048));
        assertNull(CliSupport.contextNote(512, 512));
        assertEquals("--ctx 10: the context is 256 tokens (llama.cpp rounds the context size up to a multiple of 256)",
                CliSupport.contextNote(10, 256));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Speculation.auto().withMaxDraftTokens(0));
        assertTrue(CliSupport.flagMessage(e, java.util.Map.of("maxDraftTokens", "--max-draft"))
                .startsWith("--max-draft must be in "), e.getMessage());
    }

    @Test
    void versionNamesTheCommand() {
        Result r = run(new Probe(), "--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("probe "), r.out());
    }
}
