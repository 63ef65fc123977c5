package dev.llamaspec.examples.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.llamaspec.GenerationOptions;
import dev.llamaspec.examples.cli.CliSupport;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Argument handling in-process: every bad argument is a one-line message and exit code 2, before any model loads. */
class ChatCliArgsTest {
    record Result(int code, String out, String err) {}

    static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = ChatCli.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--speculation medusa                 | speculation 'medusa' needs Medusa heads made for the model: start"
            + " llamaspec-chat with --heads FILE",
        "--speculation draft                  | speculation 'draft' needs a draft model with the model's vocabulary",
        "--speculation draft-model --heads h  | start llamaspec-chat with --draft-model FILE",
        "--static-tree                        | --static-tree sets up Medusa speculation: it needs --heads FILE",
        "--speculation lookup --typical       | --typical sets up Medusa speculation: it needs --heads FILE",
        "--speculation quick                  | unknown speculation 'quick'",
        "--temperature abc                    | Invalid value for option '--temperature'",
        "--temperature -1                     | temperature must be in",
        "--top-p 0                            | topP must be in",
        "--max-tokens 0                       | maxTokens must be in",
        "--seed -5                            | seed must be in",
        "--ctx 4                              | contextSize must be in",
        "--threads -1                         | threads must be in",
        "--max-draft 65                       | --max-draft must be in [1, 64], got 65",
        "--lookahead 8,4                      | --lookahead takes W,N,G",
        "--lookahead 8,1,8                    | --lookahead: ngramSize (n) must be in",
        "--mode dialog                        | Invalid value for option '--mode'",
        "--json                               | --json needs --prompt",
        "--bogus                              | Unknown option: '--bogus'",
        "--model                              | Missing required parameter for option '--model'",
    })
    void badArgumentsExitWithCode2AndAMessage(String args, String message) {
        Result r = run(args.trim().split(" "));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: "), r.err());
        assertTrue(r.err().contains(message), r.err());
        assertTrue(r.err().contains("--help"), r.err());
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), r.err());
        assertEquals("", r.out());
    }

    /** The command-line convention (see CliSupport): the flag in the message, exit code 2, the usage hint. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--ctx abc                 | Invalid value for option '--ctx': 'abc' is not an int",
        "--seed x                  | Invalid value for option '--seed': 'x' is not a long",
        "--top-k 1.5               | Invalid value for option '--top-k': '1.5' is not an int",
        "--max-tokens lots         | Invalid value for option '--max-tokens': 'lots' is not an int",
        "--top-k -1                | --top-k must be in [0, 2147483647], got -1",
        "--min-p 1                 | --min-p must be in [0, 1), got 1",
        "--repeat-penalty 0        | --repeat-penalty must be in (0, 100], got 0",
        "--temperature 101         | --temperature must be in [0, 100], got 101",
        "--threads 513             | --threads must be in [0, 512], got 513",
        "--top-p 1.5               | --top-p: topP must be in (0, 1], got 1.5",
        "--max-tokens 0            | --max-tokens: maxTokens must be in [1, 16777216], got 0",
        "--ctx 7                   | --ctx: contextSize must be in [8, 16777216], got 7",
        "--ctx -1                  | --ctx: contextSize must be in [8, 16777216], got -1",
        "--seed -2                 | --seed must be in [0, 4294967294], or -1 for a random seed, got -2",
        "--seed 4294967295         | --seed must be in [0, 4294967294], or -1 for a random seed, got 4294967295",
        "hello                     | unexpected argument 'hello': llamaspec-chat takes no arguments besides its"
            + " options",
        "--prompt Hi there         | unexpected argument 'there'",
        "--prompt Hi a b           | unexpected arguments 'a' 'b'",
    })
    void badArgumentsNameTheirFlag(String args, String message) {
        Result r = run(args.trim().split(" +"));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: " + message), r.err());
        assertTrue(r.err().contains("run with --help for the options"), r.err());
        assertEquals("", r.out());
    }

    @Test
    void structuredOutputFilesAreCheckedBeforeTheModelLoads(@TempDir Path dir) throws Exception {
        Path schema = java.nio.file.Files.writeString(dir.resolve("s.json"), "{\"type\": \"string\", \"pattern\": \"a\"}");
        Path grammar = java.nio.file.Files.writeString(dir.resolve("g.gbnf"), "root ::= \"a\"");
        Result r = run("--json-schema", schema.toString(), "--prompt", "Hi");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --json-schema " + schema + ": JSON Schema #: 'pattern' is not supported"),
                r.err());
        r = run("--grammar", grammar.toString(), "--json-schema", schema.toString(), "--prompt", "Hi");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --grammar and --json-schema both constrain the reply"), r.err());
        r = run("--grammar", dir.resolve("missing.gbnf").toString(), "--prompt", "Hi");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --grammar " + dir.resolve("missing.gbnf")), r.err());
    }

    @Test
    void structuredOutputWithTheModel(@TempDir Path dir) throws Exception {
        Path schema = java.nio.file.Files.writeString(dir.resolve("s.json"), "{\"type\": \"object\", \"properties\":"
                + " {\"name\": {\"type\": \"string\", \"maxLength\": 10}}, \"required\": [\"name\"]}");
        Result r = run("--model", TestModel.path().toString(), "--mode", "completion", "--json-schema", schema.toString(),
                "--temperature", "0", "--max-tokens", "100", "--prompt", "Once upon a time", "--json");
        assertEquals(0, r.code(), r.err());
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        String text = json.readTree(r.out()).get("text").asText();
        assertTrue(json.readTree(text).get("name").isTextual(), text);
        Path bad = java.nio.file.Files.writeString(dir.resolve("bad.gbnf"), "root ::= undefined");
        r = run("--model", TestModel.path().toString(), "--grammar", bad.toString(), "--prompt", "Hi");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --grammar " + bad + ": the grammar is not valid GBNF"), r.err());
    }

    @Test
    void aHistoryPathThatIsADirectoryIsABadArgument(@TempDir Path dir) {
        Result r = run("--history", dir.toString(), "--prompt", "Hi");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --history " + dir + ": is a directory, not a file"), r.err());
    }

    @Test
    void seedMinusOneIsARandomSeed() {
        // accepted: the run goes on to look for the default model, which is not there in examples/chat
        Result r = run("--seed", "-1", "--prompt", "Hi");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: no model given"), r.err());
        r = run("--seed", "4294967294", "--prompt", "Hi");
        assertTrue(r.err().startsWith("error: no model given"), r.err());
    }

    @Test
    void helpShowsDefaultsTheSeedConventionAndTheContextRounding() {
        String help = run("--help").out().replaceAll("\\s+", " ");
        for (String s : new String[] {"--temperature=T 0 to 100, 0 = greedy (default: 0.8)", "(default: 40)",
            "(default: 0.95)", "(default: 0.05)", "(default: 1.0)", "most tokens per reply, at least 1 (default: 256)",
            "-1 or no --seed: a random seed", "0 to 4294967294", "rounds it up to a multiple of 256",
            "256 is the smallest context", "-V, --version", "-h, --help"}) {
            assertTrue(help.contains(s), s + " missing from:\n" + help);
        }
    }

    @Test
    void theSamplingDefaultsAreTheLibrarys() {
        ChatCli cli = new ChatCli();
        CliSupport.commandLine(cli, System.out, System.err).parseArgs();
        GenerationOptions defaults = GenerationOptions.defaults();
        assertEquals(defaults.temperature(), cli.temperature);
        assertEquals(defaults.topK(), cli.topK);
        assertEquals(defaults.topP(), cli.topP);
        assertEquals(defaults.minP(), cli.minP);
        assertEquals(defaults.repeatPenalty(), cli.repeatPenalty);
        assertEquals(defaults.maxTokens(), cli.maxTokens);
    }

    @Test
    void versionNamesTheProgram() {
        Result r = run("--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("llamaspec-chat "), r.out());
    }

    @Test
    void helpListsTheOptionsAndCommands() {
        Result r = run("--help");
        assertEquals(0, r.code(), r.err());
        for (String s : new String[] {"--model", "--speculation", "--max-draft", "--no-budget", "--lookahead",
            "--temperature", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--seed", "--max-tokens",
            "--system", "--threads", "--ctx", "--mode", "--prompt", "--json", "--heads", "--static-tree", "--typical",
            "LOSSY", "--draft-model", "/stats", "/spec", "/save"}) {
            assertTrue(r.out().contains(s), s + " missing from:\n" + r.out());
        }
    }

    @Test
    void withoutAModelTheDefaultIsLookedUpAndItsAbsenceExplained() {
        // the tests run in examples/chat, where ../shared/models does not exist
        Result r = run("--prompt", "Hi");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("no model given and the default " + ChatCli.DEFAULT_MODEL + " is not there"),
                r.err());
        assertTrue(r.err().contains("Pass --model FILE"), r.err());
    }
}
