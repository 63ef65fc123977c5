package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JNI functions given bad input directly (unknown setting names, values out of range, null or
 * mismatched arrays, freed handles): each is a Java exception with a clear message, never a crash, and
 * the library goes on working.
 */
class JniInputTest extends WithTestModel {
    private static final String[] NONE = {};
    private static final double[] NO_VALUES = {};

    @TempDir
    Path dir;

    private long session;

    @BeforeEach
    void openSession() {
        session = model.nativeHandle().call(m -> Session.nInit(m, NONE, NO_VALUES));
    }

    @AfterEach
    void freeSession() {
        Session.nFree(session);
    }

    private static byte[] path() {
        return TestModels.model().toString().getBytes(StandardCharsets.UTF_8);
    }

    private static <T extends Throwable> String fails(Class<T> type, Executable call) {
        return assertThrows(type, call).getMessage();
    }

    private void begin(String type, String[] names, double[] values) {
        Session.nBegin(session, model.tokenize("Once"), null, type, names, values, 0, 0, 0, null);
    }

    @Test
    void unknownSettingsAndValuesOutOfRange() {
        assertEquals("unknown setting 'n_thread'", fails(IllegalArgumentException.class,
                () -> LlamaModel.nLoad(path(), new String[] {"n_thread"}, new double[] {1}, NONE)));
        assertEquals("n_threads must be in [0, 512], got -1", fails(IllegalArgumentException.class,
                () -> LlamaModel.nLoad(path(), new String[] {"n_threads"}, new double[] {-1}, NONE)));
        assertEquals("unknown setting 'threads'", fails(IllegalArgumentException.class,
                () -> model.nativeHandle().call(m -> Session.nInit(m, new String[] {"threads"}, new double[] {1}))));
        assertEquals("n_batch must be an integer in [0, 65536], got 1.5", fails(IllegalArgumentException.class,
                () -> model.nativeHandle().call(m -> Session.nInit(m, new String[] {"n_batch"}, new double[] {1.5}))));
        assertEquals("unknown setting 'spec.lookahead.width'", fails(IllegalArgumentException.class,
                () -> begin("lookahead", new String[] {"spec.lookahead.width"}, new double[] {4})));
        assertEquals("spec.lookahead.w must be in [1, 32], got 64", fails(IllegalArgumentException.class,
                () -> begin("lookahead", new String[] {"spec.lookahead.w"}, new double[] {64})));
        assertTrue(fails(IllegalArgumentException.class, () -> begin("none", new String[] {"temperature"},
                new double[] {Double.NaN})).startsWith("temperature must be in [0, 100], got "));
        assertEquals("unknown speculation type 'warp'", fails(IllegalArgumentException.class,
                () -> begin("warp", NONE, NO_VALUES)));
        assertEquals("unknown speculation type 'Lookahead'", fails(IllegalArgumentException.class,
                () -> begin("Lookahead", NONE, NO_VALUES)));
        // Medusa without heads and a draft model without a model: the engine's check, not a crash
        assertEquals(ErrorCode.INVALID_ARGUMENT,
                assertThrows(LlamaException.class, () -> begin("medusa", NONE, NO_VALUES)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT,
                assertThrows(LlamaException.class, () -> begin("draft", NONE, NO_VALUES)).code());
        assertTrue(fails(IllegalArgumentException.class, () -> model.nativeHandle().call(m -> MedusaTrainer.nTrain(m,
                path(), dir.resolve("h.gguf").toString().getBytes(StandardCharsets.UTF_8), new String[] {"head"},
                new double[] {2}, new Object()))).contains("unknown setting 'head'"));
        assertEquals("unknown settings table 'sampling' (model, session, generation, train, early_exit)",
                fails(IllegalArgumentException.class, () -> SettingTable.nTable("sampling")));
        assertEquals("unknown setting 'max_token' in the generation table", fails(IllegalArgumentException.class,
                () -> SettingTable.nCheck("generation", "max_token", "maxTokens", 1)));
        assertEquals(null, SettingTable.nCheck("generation", "max_tokens", "maxTokens", 1));
        assertOk();
    }

    @Test
    void nullAndMismatchedArrays() {
        assertEquals("setting names are null", fails(NullPointerException.class,
                () -> LlamaModel.nLoad(path(), null, NO_VALUES, NONE)));
        assertEquals("setting values are null", fails(NullPointerException.class,
                () -> LlamaModel.nLoad(path(), NONE, null, NONE)));
        assertEquals("a setting name is null", fails(NullPointerException.class,
                () -> LlamaModel.nLoad(path(), new String[] {null}, new double[] {1}, NONE)));
        assertEquals("an RPC server is null", fails(NullPointerException.class,
                () -> LlamaModel.nLoad(path(), NONE, NO_VALUES, new String[] {null})));
        LlamaException noPort = assertThrows(LlamaException.class,
                () -> LlamaModel.nLoad(path(), NONE, NO_VALUES, new String[] {"nocolon"}));
        assertEquals(ErrorCode.INVALID_ARGUMENT, noPort.code());
        assertTrue(noPort.getMessage().contains("RPC server \"nocolon\" is not HOST:PORT"), noPort.getMessage());
        assertEquals("rpc_timeout_ms must be in [100, 3600000], got 5", fails(IllegalArgumentException.class,
                () -> LlamaModel.nLoad(path(), new String[] {"rpc_timeout_ms"}, new double[] {5}, NONE)));
        assertEquals("2 setting names but 1 values", fails(IllegalArgumentException.class,
                () -> model.nativeHandle().call(m -> Session.nInit(m, new String[] {"n_ctx", "n_batch"},
                        new double[] {64}))));
        assertEquals("speculation type is null", fails(NullPointerException.class,
                () -> begin(null, NONE, NO_VALUES)));
        assertEquals("setting names are null", fails(NullPointerException.class,
                () -> begin("none", null, NO_VALUES)));
        assertThrows(NullPointerException.class, () -> model.nativeHandle().call(m -> MedusaTrainer.nTrain(m, path(),
                path(), NONE, NO_VALUES, null)));
        assertEquals("roles are null", fails(NullPointerException.class,
                () -> model.nativeHandle().call(m -> LlamaModel.nApplyChatTemplate(m, null, new byte[0][], true,
                        false))));
        assertEquals("one content per role is needed", fails(IllegalArgumentException.class,
                () -> model.nativeHandle().call(m -> LlamaModel.nApplyChatTemplate(m, new String[] {"user"},
                        new byte[0][], true, true))));
        assertEquals("a role is null", fails(NullPointerException.class,
                () -> model.nativeHandle().call(m -> LlamaModel.nApplyChatTemplate(m, new String[] {null},
                        new byte[][] {{65}}, true, false))));
        assertEquals("dtypes are null", fails(NullPointerException.class, () -> model.nativeHandle().run(
                m -> MedusaImporter.nImport(m, path(), path(), 1, 0, 64, 512, new long[1], null))));
        assertEquals("nImport: unknown dtype 'Q4_0' (F32, F16, BF16)", fails(IllegalArgumentException.class,
                () -> model.nativeHandle().run(m -> MedusaImporter.nImport(m, path(), path(), 1, 0, 64, 512,
                        new long[1], new String[] {"Q4_0"}))));
        assertEquals("nImport: one dtype per offset is needed", fails(IllegalArgumentException.class,
                () -> model.nativeHandle().run(m -> MedusaImporter.nImport(m, path(), path(), 1, 0, 64, 512,
                        new long[2], new String[] {"F32"}))));
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(LlamaException.class, () -> model.nativeHandle().run(
                m -> MedusaImporter.nImport(m, path(), path(), -3, 0, 64, 512, new long[0], new String[0]))).code());
        assertThrows(NullPointerException.class, () -> SettingTable.nTable(null));
        assertOk();
    }

    @Test
    void freedHandlesAreIllegalStates() {
        assertEquals("session is closed", fails(IllegalStateException.class, () -> Session.nStep(0)));
        assertEquals("session is closed", fails(IllegalStateException.class, () -> Session.nStats(0)));
        assertEquals("session is closed", fails(IllegalStateException.class,
                () -> Session.nBegin(0, new int[] {1}, null, "none", NONE, NO_VALUES, 0, 0, 0, null)));
        assertEquals("model is closed", fails(IllegalStateException.class,
                () -> LlamaModel.nCheckGrammar(0, new byte[] {65})));
        assertEquals("model is closed", fails(IllegalStateException.class, () -> Embedder.nInit(0, -1, 512)));
        assertEquals("model is closed", fails(IllegalStateException.class, () -> LlamaModel.nChatBuiltin(0)));
        assertEquals("the embedder is closed", fails(IllegalStateException.class,
                () -> Embedder.nEmbed(0, new int[][] {{1}}, true)));
        assertEquals("the embedder is closed", fails(IllegalStateException.class, () -> Embedder.nInfo(0)));
        assertEquals("model is closed", fails(IllegalStateException.class,
                () -> LlamaModel.nTokenize(0, new byte[] {65}, true, false)));
        assertEquals("model is closed", fails(IllegalStateException.class, () -> Session.nInit(0, NONE, NO_VALUES)));
        assertEquals("Medusa heads are closed", fails(IllegalStateException.class, () -> MedusaHeads.nInfo(0)));
        assertEquals("model is closed", fails(IllegalStateException.class,
                () -> MedusaTrainer.nTrain(0, path(), path(), NONE, NO_VALUES, new Object())));
        assertOk();
    }

    @Test
    void grammarsOfAnyBytesAreCheckedWithoutHarm() {
        long handle = model.nativeHandle().call(h -> h);
        byte[][] grammars = {
            {}, {(byte) 0xff, (byte) 0xfe}, "root ::= \"\u00e9".getBytes(StandardCharsets.UTF_8),
            {'r', 'o', 'o', 't', ' ', ':', ':', '=', ' ', '"', (byte) 0xc3, '"'}, "root ::= [\\x00-".getBytes(StandardCharsets.UTF_8),
            "root ::= (((((".getBytes(StandardCharsets.UTF_8), "root ::= \"a\"{99999999}".getBytes(StandardCharsets.UTF_8),
        };
        for (byte[] g : grammars) {
            try {
                LlamaModel.nCheckGrammar(handle, g);
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage().startsWith("the grammar"), e.getMessage());
            }
            try {
                Session.nBegin(session, model.tokenize("Once"), null, "none", NONE, NO_VALUES, 0, 0, 0, g);
                Session.nCancel(session);
                Session.nStep(session);
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage().startsWith("the grammar"), e.getMessage());
            }
        }
        assertOk();
    }

    @Test
    void embedderInputsAreChecked() {
        long m = model.nativeHandle().call(h -> h);
        assertTrue(fails(LlamaException.class, () -> Embedder.nInit(m, 0, 512)).contains("pooling 'none'"));
        assertTrue(fails(LlamaException.class, () -> Embedder.nInit(m, 99, 512)).contains("pooling"));
        assertTrue(fails(LlamaException.class, () -> Embedder.nInit(m, -1, 2)).contains("8 to 16777216"));
        long e = Embedder.nInit(m, -1, 64);
        try {
            assertEquals("texts is null", fails(IllegalArgumentException.class, () -> Embedder.nEmbed(e, null, true)));
            assertEquals("text 1 is null", fails(IllegalArgumentException.class,
                    () -> Embedder.nEmbed(e, new int[][] {{1}, null}, true)));
            assertTrue(fails(LlamaException.class, () -> Embedder.nEmbed(e, new int[][] {{1, -7}}, true))
                    .contains("outside the vocabulary"));
            assertTrue(fails(LlamaException.class, () -> Embedder.nEmbed(e, new int[][] {new int[65]}, true))
                    .contains("text 0 has 65 tokens"));
            assertEquals(0, Embedder.nEmbed(e, new int[0][], true).length);
        } finally {
            Embedder.nFree(e);
        }
        assertOk();
    }

    /** The library and this session still work. */
    private void assertOk() {
        Session.nBegin(session, model.tokenize("Once upon a time"), null, "lookup", new String[] {"max_tokens",
            "temperature"}, new double[] {3, 0}, 0, 0, 0, null);
        int tokens = 0;
        StepResult step;
        do {
            step = Session.nStep(session);
            tokens += step.tokens.length;
        } while (step.stop == 0);
        assertEquals(3, tokens);
        assertEquals(3, Session.nStats(session).generatedTokens());
    }
}
