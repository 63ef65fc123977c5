package dev.llamaspec.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The benchmarks through the real jar: exit codes, and failures named by their flag. Short runs only. */
class BenchProcessIT {
    static void assertNoStackTrace(Jar.Result r) {
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), r.err());
    }

    @Test
    void badArgumentsExitWith2(@TempDir Path dir) throws Exception {
        String model = Jar.model().toString();
        String[][] badNumbers = {{"PlainBench", "--tokens", "many"}, {"SpecBench", "--model", model, "--prompts-from",
            model, "--tokens", "many"}, {"Soak", "--model", model, "--minutes", "many"}};
        for (String[] args : badNumbers) {
            Jar.Result r = Jar.run(args[0], java.util.Arrays.copyOfRange(args, 1, args.length));
            assertEquals(2, r.code(), args[0] + ": " + r.err());
            assertTrue(r.err().startsWith("error: Invalid value for option '" + args[args.length - 2] + "': 'many'"),
                    args[0] + ": " + r.err());
            assertNoStackTrace(r);
        }
    }

    @Test
    void aModelThatIsNotThereIsAFailure(@TempDir Path dir) throws Exception {
        String model = Jar.model().toString();
        Path missing = dir.resolve("no-such-model.gguf");
        for (String main : new String[] {"PlainBench", "SpecBench", "Soak"}) {
            Jar.Result r = main.equals("SpecBench")
                    ? Jar.run(main, "--model", missing.toString(), "--prompts-from", model)
                    : Jar.run(main, "--model", missing.toString());
            assertEquals(1, r.code(), main + ": " + r.err());
            assertEquals("error: --model " + missing + ": no such file\n", r.err(), main);
            assertNoStackTrace(r);
        }
    }

    @Test
    void aFileThatIsNotAModelIsAFailureNamedByItsFlag(@TempDir Path dir) throws Exception {
        Path readme = Jar.root().resolve("README.md");
        Path prompts = Files.writeString(dir.resolve("prompts.json"),
                "{\"prompt_sets\": [{\"name\": \"t\", \"prompts\": [\"Once upon a time\"]}]}");
        for (String[] args : new String[][] {{"PlainBench", "--model", readme.toString()},
            {"SpecBench", "--model", readme.toString(), "--prompts-from", prompts.toString()},
            {"Soak", "--model", readme.toString(), "--minutes", "0.01"}}) {
            Jar.Result r = Jar.run(args[0], java.util.Arrays.copyOfRange(args, 1, args.length));
            assertEquals(1, r.code(), args[0] + ": " + r.err());
            assertTrue(r.err().startsWith("error: --model: model file is not a GGUF file"), args[0] + ": " + r.err());
            assertFalse(r.err().contains("--help"), "a failure, not a bad argument: " + r.err());
            assertNoStackTrace(r);
        }
    }

    @Test
    void specBenchRunsAPromptSetAndNamesABadPromptsFile(@TempDir Path dir) throws Exception {
        Path prompts = Files.writeString(dir.resolve("prompts.json"),
                "{\"prompt_sets\": [{\"name\": \"t\", \"prompts\": [\"Once upon a time\"]}]}");
        Path out = dir.resolve("java.json");
        Jar.Result r = Jar.run("SpecBench", "--model", Jar.model().toString(), "--prompts-from", prompts.toString(),
                "--strategies", "lookup", "--tokens", "16", "--threads", "1", "--json", out.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode report = new ObjectMapper().readTree(out.toFile());
        assertEquals(2, report.get("results").size(), "none and lookup: " + report);
        assertEquals("none", report.get("results").get(0).get("strategy").asText());

        Path readme = Jar.root().resolve("README.md");
        r = Jar.run("SpecBench", "--model", Jar.model().toString(), "--prompts-from", readme.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --prompts-from " + readme + ": cannot read it as JSON"), r.err());

        r = Jar.run("SpecBench", "--model", Jar.model().toString(), "--prompts-from", prompts.toString(),
                "--strategies", "quick");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().contains("quick"), r.err());
        assertNoStackTrace(r);
    }

    @Test
    void specBenchTakesADraftModelAndNamesOneThatDoesNotFit(@TempDir Path dir) throws Exception {
        Path prompts = Files.writeString(dir.resolve("prompts.json"),
                "{\"prompt_sets\": [{\"name\": \"t\", \"prompts\": [\"Once upon a time\"]}]}");
        Path out = dir.resolve("java.json");
        // the model is its own draft model: the same vocabulary
        Jar.Result r = Jar.run("SpecBench", "--model", Jar.model().toString(), "--prompts-from", prompts.toString(),
                "--strategies", "draft-model-fixed", "--draft-model", Jar.model().toString(), "--tokens", "16",
                "--threads", "1", "--json", out.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode results = new ObjectMapper().readTree(out.toFile()).get("results");
        assertEquals(2, results.size(), results.toString());
        assertEquals("draft-fixed", results.get(1).get("strategy").asText());
        assertTrue(results.get(1).get("drafted").asInt() > 0, "without the budget the model drafts: " + results);
        assertEquals(0, results.get(1).get("divergedPrompts").size(), "greedy output is plain decoding's: " + results);

        Path readme = Jar.root().resolve("README.md");
        r = Jar.run("SpecBench", "--model", Jar.model().toString(), "--prompts-from", prompts.toString(),
                "--strategies", "draft", "--draft-model", readme.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --draft-model: model file is not a GGUF file"), r.err());
        assertNoStackTrace(r);

        r = Jar.run("SpecBench", "--model", Jar.model().toString(), "--prompts-from", prompts.toString(),
                "--strategies", "medusa", "--heads", readme.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --heads: "), r.err());
        assertNoStackTrace(r);
    }

    @Test
    void plainBenchNamesALlamaBenchThatCannotRun(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("no-llama-bench");
        Jar.Result r = Jar.run("PlainBench", "--tokens", "8", "--rounds", "1", "--threads", "1", "--llama-bench",
                missing.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --llama-bench " + missing + ": cannot run it"), r.err());
        assertNoStackTrace(r);
    }

    @Test
    void plainBenchMeasuresBothSidesRoundByRound() throws Exception {
        // llama-bench from the build root's llama.cpp tools, as ci/bench-plain runs it
        Jar.Result r = Jar.run("PlainBench", "--model", Jar.model().toString(), "--tokens", "8", "--rounds", "2",
                "--threads", "1", "--load-mode", "none");
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().split("\n");
        assertEquals(3, lines.length, r.out());
        assertTrue(lines[0].startsWith("plain decoding, 8 tokens, 1 threads, 2 rounds"), r.out());
        assertTrue(lines[0].endsWith("model files read into memory"), r.out());
        assertTrue(lines[1].contains("per round [min, max]"), r.out());
        // model, FA, llama-bench t/s ± spread, Java t/s ± spread, ratio of medians, median per-round ratio [min, max]
        String[] f = lines[2].trim().split("[\\s\\[\\],±]+");
        assertEquals(Jar.model().getFileName().toString(), f[0], r.out());
        assertEquals("auto", f[1], r.out());
        double llama = Double.parseDouble(f[2]);
        double java = Double.parseDouble(f[4]);
        double paired = Double.parseDouble(f[7]);
        double min = Double.parseDouble(f[8]);
        double max = Double.parseDouble(f[9]);
        assertTrue(llama > 0 && java > 0, r.out());
        assertEquals(java / llama, Double.parseDouble(f[6]), 0.01 * java / llama, r.out());
        assertTrue(min <= paired && paired <= max && min > 0, r.out());
        assertNoStackTrace(r);
    }

    @Test
    void versionComesFromTheJar() throws Exception {
        Jar.Result r = Jar.run("Soak", "--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("Soak 0."), r.out());
    }
}
