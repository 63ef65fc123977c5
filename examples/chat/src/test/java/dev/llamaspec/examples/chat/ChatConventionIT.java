package dev.llamaspec.examples.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.TestRpcServer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command-line convention through the real jar: what llama.cpp made of --ctx is shown, files that
 * cannot be loaded are named by their flag, exit codes.
 */
class ChatConventionIT {
    static final String NOTE_10 = "note: --ctx 10: the context is 256 tokens (llama.cpp rounds the context size up"
            + " to a multiple of 256)";

    static Cli.Result run(String... args) throws Exception {
        return Cli.run(TestModel.root(), ChatProcessIT.withOneThread(args));
    }

    @Test
    void theContextSizeLlamaCppMadeIsShown() throws Exception {
        Cli.Result r = run("--ctx", "10", "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "8",
                "--json");
        assertEquals(0, r.code(), r.err());
        assertEquals(NOTE_10 + "\n", r.err());
        assertEquals(256, Json.MAPPER.readTree(r.out()).get("contextSize").asInt(), r.out());

        r = run("--ctx", "300", "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "8");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().startsWith("note: --ctx 300: the context is 512 tokens"), r.err());

        // a size llama.cpp keeps, and the model's default, are not remarked on
        r = run("--ctx", "512", "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "8", "--json");
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.err());
        assertEquals(512, Json.MAPPER.readTree(r.out()).get("contextSize").asInt(), r.out());
        r = run("--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "8", "--json");
        assertEquals("", r.err());
        assertEquals(2048, Json.MAPPER.readTree(r.out()).get("contextSize").asInt(), "the model's training context");

        // interactively, in the startup lines (stdin is empty: the chat starts and leaves)
        r = run("--ctx", "10");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("context 256 tokens\n" + NOTE_10 + "\n"), r.out());
    }

    @Test
    void aFileThatCannotBeLoadedIsNamedByItsFlag() throws Exception {
        Path readme = TestModel.root().resolve("README.md");
        Cli.Result r = run("--speculation", "draft", "--draft-model", readme.toString(), "--prompt", "Hi");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --draft-model: ") && r.err().contains("not a GGUF file")
                && r.err().contains(readme.toString()), r.err());
        ChatProcessIT.assertNoStackTrace(r);

        r = run("--heads", readme.toString(), "--prompt", "Hi");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --heads: ") && r.err().contains("not a GGUF file"), r.err());

        r = run("--session", readme.toString(), "--prompt", "Hi");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --session " + readme + ": ")
                && r.err().contains("is not a llamaspec session file"), r.err());
        ChatProcessIT.assertNoStackTrace(r);

        r = run("--model", readme.toString(), "--prompt", "Hi");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --model: ") && r.err().contains("not a GGUF file"), r.err());
        assertFalse(r.err().contains("run with --help"), "a failure, not a bad argument: " + r.err());
    }

    @Test
    void headsForAnotherModelAndAGgufThatIsNotAModelAreNamedByTheirFlag(@TempDir Path dir) throws Exception {
        Path heads;
        Path other;
        try (LlamaModel model = LlamaModel.load(TestModel.path(), TestModel.ONE_THREAD)) {
            heads = TestHeads.train(model, dir);
            other = TestHeads.forAnotherModel(model, heads, dir);
        }
        Cli.Result r = run("--speculation", "medusa", "--heads", other.toString(), "--prompt", "Hi");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --heads: ") && r.err().contains("0123456789abcdef"), r.err());
        ChatProcessIT.assertNoStackTrace(r);

        // a GGUF file that llama.cpp refuses as a model
        r = run("--speculation", "draft", "--draft-model", heads.toString(), "--prompt", "Hi");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --draft-model: ") && r.err().contains(heads.toString()), r.err());
        ChatProcessIT.assertNoStackTrace(r);
    }

    @Test
    void aFileThatIsNotThereIsNamedWithItsFlag(@TempDir Path dir) throws Exception {
        // a failure (exit code 1), as in every llamaspec program
        Path missing = dir.resolve("no-such-draft.gguf");
        Cli.Result r = run("--speculation", "draft", "--draft-model", missing.toString(), "--prompt", "Hi");
        assertEquals(1, r.code(), r.err());
        assertEquals("error: --draft-model " + missing + ": no such file\n", r.err());

        r = run("--model", dir.toString(), "--prompt", "Hi");
        assertEquals(1, r.code(), r.err());
        assertEquals("error: --model " + dir + ": is a directory, not a file\n", r.err());
    }

    @Test
    void badArgumentsExitWith2AndAnExtraArgumentIsRefused() throws Exception {
        Cli.Result r = run("--prompt", "Once", "upon");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: unexpected argument 'upon'"), r.err());
        ChatProcessIT.assertNoStackTrace(r);

        r = run("--ctx", "big");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: Invalid value for option '--ctx': 'big' is not an int"), r.err());

        r = run("--rpc", "127.0.0.1:1,nocolon", "--prompt", "Hi");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --rpc: \"nocolon\" is not HOST:PORT"), r.err());
        ChatProcessIT.assertNoStackTrace(r);
    }

    @Test
    void anRpcServerThatIsNotThereIsNamedByItsFlag() throws Exception {
        int port = TestRpcServer.freePort();
        Cli.Result r = run("--rpc", "127.0.0.1:" + port, "--prompt", "Hi");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --rpc: cannot use RPC server 127.0.0.1:" + port), r.err());
        ChatProcessIT.assertNoStackTrace(r);

        // with a server there: the local reply
        try (TestRpcServer server = TestRpcServer.start(port)) {
            Cli.Result local = run("--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "24",
                    "--strict-numerics");
            Cli.Result remote = run("--rpc", server.endpoint(), "--prompt", "Once upon a time", "--temperature", "0",
                    "--max-tokens", "24", "--strict-numerics");
            assertEquals(0, remote.code(), remote.err());
            assertEquals(local.out(), remote.out());
        }
    }


    @Test
    void aSeedRepeatsTheTextAndMinusOneIsRandom() throws Exception {
        String[] args = {"--prompt", "Once upon a time", "--temperature", "1", "--max-tokens", "24", "--json"};
        JsonNode first = json(concat(args, "--seed", "7"));
        JsonNode again = json(concat(args, "--seed", "7"));
        assertEquals(first.get("text"), again.get("text"));
        json(concat(args, "--seed", "-1"));
    }

    @Test
    void versionComesFromTheJar() throws Exception {
        Cli.Result r = Cli.run(TestModel.root(), "--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("llamaspec-chat 0."), r.out());
    }

    static JsonNode json(String... args) throws Exception {
        Cli.Result r = run(args);
        assertEquals(0, r.code(), r.err());
        return Json.MAPPER.readTree(r.out());
    }

    static String[] concat(String[] a, String... b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
