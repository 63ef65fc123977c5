package dev.llamaspec.examples.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Argument handling in-process: every bad argument is a message naming its flag and exit code 2, before any model loads. */
class GenerateArgsTest {
    record Result(int code, String out, String err) {}

    static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Generate.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--tokens abc              | Invalid value for option '--tokens': 'abc' is not an int",
        "--temperature warm        | Invalid value for option '--temperature': 'warm' is not a float",
        "--seed x                  | Invalid value for option '--seed': 'x' is not a long",
        "--threads 1.5             | Invalid value for option '--threads': '1.5' is not an int",
        "--ctx abc                 | Invalid value for option '--ctx': 'abc' is not an int",
        "--tokens 0                | --tokens must be in [1, 16777216], got 0",
        "--tokens -3               | --tokens must be in [1, 16777216], got -3",
        "--temperature -1          | --temperature must be in [0, 100], got -1",
        "--threads 513             | --threads must be in [0, 512], got 513",
        "--ctx 4                   | --ctx must be in [8, 16777216], got 4",
        "--seed -2                 | --seed must be in [0, 4294967294], or -1 for a random seed, got -2",
        "--seed 4294967295         | --seed must be in [0, 4294967294], or -1 for a random seed, got 4294967295",
        "Once upon                 | unexpected argument 'upon': llamaspec-generate takes at most one PROMPT"
            + " (quote an argument that has spaces)",
        "a b c                     | unexpected arguments 'b' 'c'",
        "--bogus                   | Unknown option: '--bogus'",
        "--tokens                  | Missing required parameter for option '--tokens'",
    })
    void badArgumentsExitWithCode2AndNameTheirFlag(String args, String message) {
        Result r = run(args.trim().split(" +"));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: " + message), r.err());
        assertTrue(r.err().contains("run with --help for the options"), r.err());
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), r.err());
        assertEquals("", r.out());
    }

    @Test
    void aModelPathThatIsNotThereIsAFailure(@TempDir Path dir) {
        Path missing = dir.resolve("no-such-model.gguf");
        Result r = run("--model", missing.toString());
        assertEquals(1, r.code(), r.err());
        assertEquals("error: --model " + missing + ": no such file\n", r.err());

        r = run("--model", dir.toString());
        assertEquals(1, r.code(), r.err());
        assertEquals("error: --model " + dir + ": is a directory, not a file\n", r.err());
    }

    @Test
    void withoutAModelTheDefaultIsLookedUpAndItsAbsenceExplained() {
        // the tests run in examples/generate, where ../shared/models does not exist
        Result r = run("--tokens", "4");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: no model given and the default " + Generate.DEFAULT_MODEL
                + " is not there"), r.err());
        assertTrue(r.err().contains("pass --model FILE"), r.err());
    }

    @Test
    void seedMinusOneIsARandomSeed() {
        // accepted: the run goes on to look for the default model, which is not there here
        for (String seed : new String[] {"-1", "0", "4294967294"}) {
            Result r = run("--seed", seed);
            assertTrue(r.err().startsWith("error: no model given"), seed + ": " + r.err());
        }
    }

    @Test
    void helpShowsEveryFlagWithItsDefault() {
        Result r = run("--help");
        assertEquals(0, r.code(), r.err());
        String help = r.out().replaceAll("\\s+", " ");
        for (String s : new String[] {"[PROMPT]", "(default: Once upon a time)", "--model=FILE",
            "(default: ../shared/models/stories260K.gguf)", "--tokens=N most tokens to generate, at least 1 (default: 128)",
            "--temperature=T 0 to 100, 0 = greedy (default: 0)", "-1 or no --seed: a random seed",
            "--threads=N", "(default: 0)", "--ctx=N", "rounds it up to a multiple of 256",
            "256 is the smallest context", "-h, --help", "-V, --version", "Exit codes: 0 done, 1"}) {
            assertTrue(help.contains(s), s + " missing from:\n" + r.out());
        }
    }

    @Test
    void versionNamesTheProgram() {
        Result r = run("--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("llamaspec-generate "), r.out());
    }
}
