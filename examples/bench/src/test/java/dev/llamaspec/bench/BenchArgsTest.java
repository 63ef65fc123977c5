package dev.llamaspec.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The benchmarks' arguments in-process: bad ones name their flag and exit with 2, before any model loads. */
class BenchArgsTest {
    record Result(int code, String out, String err) {}

    interface Program {
        int run(String[] args, PrintStream out, PrintStream err);
    }

    static Result run(Program program, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = program.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static Program program(String name) {
        return switch (name) {
            case "PlainBench" -> PlainBench::run;
            case "SpecBench" -> SpecBench::run;
            case "Soak" -> Soak::run;
            case "EmbedBench" -> EmbedBench::run;
            default -> throw new IllegalArgumentException(name);
        };
    }

    static void assertBadArgument(Result r, String message) {
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: " + message), r.err());
        assertTrue(r.err().contains("run with --help for the options"), r.err());
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), r.err());
        assertEquals("", r.out());
    }

    /** A file that exists, so that the checks after the model's are reached. */
    static Path someFile(Path dir) throws IOException {
        return Files.writeString(dir.resolve("file.gguf"), "not looked at");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "EmbedBench | --texts 0                    | --texts must be in [1, 100000], got 0",
        "EmbedBench | --threads 513                | --threads must be in [1, 512], got 513",
        "EmbedBench | --rounds 0                   | --rounds must be in [1, 1048576], got 0",
        "PlainBench | --tokens abc                 | Invalid value for option '--tokens': 'abc' is not an int",
        "PlainBench | --rounds 2.5                 | Invalid value for option '--rounds': '2.5' is not an int",
        "PlainBench | --tokens 0                   | --tokens must be in [1, 1048576], got 0",
        "PlainBench | --threads 0                  | --threads must be in [1, 512], got 0",
        "PlainBench | --rounds -1                  | --rounds must be in [1, 1048576], got -1",
        "PlainBench | --flash-attn yes             | Invalid value for option '--flash-attn': expected one of"
            + " [auto, off, on, both]",
        "PlainBench | --load-mode mlock            | Invalid value for option '--load-mode': expected one of"
            + " [mmap, none]",
        "PlainBench | extra                        | unexpected argument 'extra': PlainBench takes no arguments"
            + " besides its options",
        "PlainBench | --bogus                      | Unknown option: '--bogus'",
        "PlainBench |                              | no model given and the default ../shared/models/stories260K.gguf"
            + " is not there",
        "SpecBench  | --prompts-from p.json        | Missing required option: '--model=FILE'",
        "SpecBench  | --model MODEL                | Missing required option: '--prompts-from=FILE'",
        "SpecBench  | --model MODEL --prompts-from MODEL --tokens x | Invalid value for option '--tokens': 'x' is not an int",
        "SpecBench  | --model MODEL --prompts-from MODEL --tokens 0 | --tokens must be in [1, 16777216], got 0",
        "SpecBench  | --model MODEL --prompts-from MODEL --threads 513 | --threads must be in [1, 512], got 513",
        "SpecBench  | --model MODEL --prompts-from MODEL --load-mode 1 | Invalid value for option '--load-mode':"
            + " expected one of [mmap, none]",
        "SpecBench  | --model MODEL --prompts-from MODEL extra | unexpected argument 'extra'",
        "SpecBench  | --model MODEL --prompts-from MODEL --json DIR | --json DIR: is a directory, not a file",
        "SpecBench  | --model MODEL --prompts-from MODEL --json DIR/no/r.json | --json DIR/no/r.json: no such"
            + " directory DIR/no",
        "SpecBench  | --model MODEL --prompts-from MODEL --strategies lookup,quick | --strategies: unknown"
            + " speculation 'quick' (none, lookup, recycling, lookahead, auto, medusa, draft)",
        "SpecBench  | --model MODEL --prompts-from MODEL --strategies auto,medusa-fixed | --strategies:"
            + " 'medusa-fixed' needs Medusa heads: add --heads FILE",
        "SpecBench  | --model MODEL --prompts-from MODEL --strategies draft-model | --strategies: 'draft-model'"
            + " needs a draft model: add --draft-model FILE",
        "SpecBench  | --model DIR/none --prompts-from MODEL --strategies medusa | --strategies: 'medusa' needs"
            + " Medusa heads",
        "Soak       | --minutes 1                  | Missing required option: '--model=FILE'",
        "Soak       | --model MODEL --minutes soon | Invalid value for option '--minutes': 'soon' is not a double",
        "Soak       | --model MODEL --minutes 0    | --minutes must be greater than 0, got 0.0",
        "Soak       | --model MODEL --minutes NaN  | --minutes must be greater than 0, got NaN",
        "Soak       | --model MODEL --threads 0    | --threads must be in [1, 512], got 0",
        "Soak       | --model MODEL --max-rss-growth-mb -1 | --max-rss-growth-mb must be at least 0, got -1.0",
        "Soak       | --model MODEL --max-heap-growth-mb x | Invalid value for option '--max-heap-growth-mb'",
        "Soak       | --model MODEL extra          | unexpected argument 'extra': Soak takes no arguments besides its"
            + " options",
    })
    void badArgumentsExitWithCode2AndNameTheirFlag(String program, String args, String message, @TempDir Path dir)
            throws IOException {
        Path model = someFile(dir);
        String line = args == null ? "" : args.trim().replace("MODEL", model.toString()).replace("DIR", dir.toString());
        Result r = run(program(program), line.isEmpty() ? new String[0] : line.split(" +"));
        assertBadArgument(r, message.replace("DIR", dir.toString()));
    }

    /** A failure (exit code 1): one line naming the flag, no usage hint. */
    static void assertFailure(Result r, String message) {
        assertEquals(1, r.code(), r.err());
        assertEquals("error: " + message + "\n", r.err());
        assertEquals("", r.out());
    }

    @ParameterizedTest
    @CsvSource({"PlainBench,--model", "SpecBench,--model", "SpecBench,--prompts-from", "SpecBench,--heads",
        "SpecBench,--draft-model", "Soak,--model"})
    void aPathThatIsNotThereIsAFailure(String program, String flag, @TempDir Path dir) throws IOException {
        Path file = someFile(dir);
        Path missing = dir.resolve("no-such-file");
        String[] args = switch (program) {
            case "SpecBench" -> switch (flag) {
                case "--model" -> new String[] {"--model", missing.toString(), "--prompts-from", file.toString()};
                case "--prompts-from" -> new String[] {"--model", file.toString(), "--prompts-from", missing.toString()};
                default -> new String[] {"--model", file.toString(), "--prompts-from", file.toString(), flag,
                    missing.toString()};
            };
            default -> new String[] {flag, missing.toString()};
        };
        assertFailure(run(program(program), args), flag + " " + missing + ": no such file");
        args[java.util.Arrays.asList(args).indexOf(missing.toString())] = dir.toString();
        assertFailure(run(program(program), args), flag + " " + dir + ": is a directory, not a file");
    }

    @ParameterizedTest
    @CsvSource({"PlainBench", "SpecBench", "Soak"})
    void helpShowsTheDefaultsAndVersionTheProgram(String program) {
        Result r = run(program(program), "--help");
        assertEquals(0, r.code(), r.err());
        String help = r.out().replaceAll("\\s+", " ");
        assertTrue(help.contains("Usage: " + program), help);
        assertTrue(help.contains("(default: 2)"), "--threads' default: " + help);
        assertTrue(help.contains("-h, --help") && help.contains("-V, --version"), help);
        assertTrue(help.contains("Exit codes: 0"), help);

        r = run(program(program), "--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith(program + " "), r.out());
    }
}
