package dev.llamaspec.examples.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** llamaspec-generate through the real jar, run from the repository root as ci/generate does. */
class GenerateProcessIT {
    /** One thread: the fastest on a busy 2-core machine; greedy output does not depend on it. */
    static Jar.Result run(String... args) throws Exception {
        String[] all = java.util.Arrays.copyOf(args, args.length + 2);
        all[args.length] = "--threads";
        all[args.length + 1] = "1";
        return Jar.run(Jar.root(), all);
    }

    static void assertNoStackTrace(Jar.Result r) {
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), r.err());
        assertEquals("", r.out());
    }

    @Test
    void generatesWithTheDefaultModel() throws Exception {
        Jar.Result r = run("--tokens", "8");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("Once upon a time"), r.out());
        assertTrue(r.err().startsWith("model: "), r.err());
        assertTrue(r.err().contains("8 tokens at"), r.err());
        assertFalse(r.err().contains("note:"), "no --ctx, nothing to remark on: " + r.err());
    }

    @Test
    void theContextSizeLlamaCppMadeIsShown() throws Exception {
        // --ctx 10 is a context of 256 tokens: 200 tokens fit
        Jar.Result r = run("--ctx", "10", "--tokens", "200", "Tom");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("\nnote: --ctx 10: the context is 256 tokens (llama.cpp rounds the context size"
                + " up to a multiple of 256)\n"), r.err());
        assertTrue(r.err().contains(" 200 tokens at "), r.err());

        r = run("--ctx", "257", "--tokens", "4");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("\nnote: --ctx 257: the context is 512 tokens "), r.err());

        r = run("--ctx", "256", "--tokens", "4");
        assertEquals(0, r.code(), r.err());
        assertFalse(r.err().contains("note:"), "llama.cpp kept --ctx 256: " + r.err());
    }

    @Test
    void badArgumentsExitWith2AndNameTheirFlag(@TempDir Path dir) throws Exception {
        Jar.Result r = run("--tokens", "abc");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: Invalid value for option '--tokens': 'abc' is not an int"), r.err());
        assertNoStackTrace(r);

        r = run("--tokens", "0");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: --tokens must be in [1, 16777216], got 0"), r.err());
        assertNoStackTrace(r);

        r = run("Once", "upon");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: unexpected argument 'upon'"), r.err());
        assertNoStackTrace(r);

        // a model that is not there is a failure, not a bad argument
        Path missing = dir.resolve("no-such-model.gguf");
        r = run("--model", missing.toString());
        assertEquals(1, r.code(), r.err());
        assertEquals("error: --model " + missing + ": no such file\n", r.err());
        assertNoStackTrace(r);

        // outside the checkout the default model is not there
        r = Jar.run(dir);
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: no model given"), r.err());
    }

    @Test
    void aFileThatIsNotAModelIsAFailureNamedByItsFlag() throws Exception {
        Path readme = Jar.root().resolve("README.md");
        Jar.Result r = run("--model", readme.toString());
        assertEquals(1, r.code(), r.err());
        assertEquals("error: --model: model file is not a GGUF file (no GGUF magic): " + readme + "\n", r.err());
        assertEquals("", r.out());
    }

    @Test
    void aSeedRepeatsTheTextAndMinusOneIsRandom() throws Exception {
        Jar.Result first = run("--temperature", "1", "--seed", "7", "--tokens", "24");
        Jar.Result again = run("--temperature", "1", "--seed", "7", "--tokens", "24");
        assertEquals(0, first.code(), first.err());
        assertEquals(first.out(), again.out());
        Jar.Result random = run("--temperature", "1", "--seed", "-1", "--tokens", "24");
        assertEquals(0, random.code(), random.err());
    }

    @Test
    void versionComesFromTheJar() throws Exception {
        Jar.Result r = Jar.run(Jar.root(), "--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("llamaspec-generate 0."), r.out());
    }
}
