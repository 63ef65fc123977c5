package dev.llamaspec.examples.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

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
