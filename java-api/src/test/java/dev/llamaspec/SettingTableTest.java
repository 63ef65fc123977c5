package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.DoubleConsumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Java options take their defaults and ranges from the engine's tables: the defaults are the
 * table's, a value just outside each end of a range is refused with the Java property's name and the
 * engine's range, and every setting of the generation table is reachable from Java.
 */
class SettingTableTest extends WithTestModel {
    private static final SettingTable G = SettingTable.GENERATION;

    @TempDir
    Path dir;

    private static Setting g(String name) {
        return G.get(name);
    }

    @Test
    void generationDefaultsAreTheEngines() {
        GenerationOptions d = GenerationOptions.defaults();
        assertEquals(g("max_tokens").defaultValue(), d.maxTokens());
        assertEquals(g("temperature").floatDefault(), d.temperature());
        assertEquals(g("top_k").defaultValue(), d.topK());
        assertEquals(g("top_p").floatDefault(), d.topP());
        assertEquals(g("min_p").floatDefault(), d.minP());
        assertEquals(g("repeat_penalty").floatDefault(), d.repeatPenalty());
        assertEquals(g("repeat_last_n").defaultValue(), d.repeatLastN());
        assertEquals(g("seed").defaultValue(), d.seed());
        assertEquals(GenerationOptions.RANDOM_SEED, d.seed());
        assertEquals(Speculation.none(), d.speculation());
        assertEquals(0f, GenerationOptions.greedy().temperature());
        assertEquals(d.maxTokens(), GenerationOptions.greedy().maxTokens());
    }

    @Test
    void speculationDefaultsAreTheEngines() throws IOException {
        for (Speculation s : List.of(Speculation.none(), Speculation.auto(), Speculation.promptLookup(),
                Speculation.tokenRecycling(), Speculation.lookahead(), Speculation.draftModel(model))) {
            assertEquals(g("spec.max_nodes").defaultValue(), s.maxDraftTokens(), s.toString());
            assertEquals(g("spec.max_depth").defaultValue(), s.maxDepth(), s.toString());
            assertEquals(g("spec.adaptive").boolDefault(), s.budget(), s.toString());
            assertEquals(g("spec.typical.enabled").boolDefault(), s.typicalAcceptance(), s.toString());
            assertEquals(g("spec.typical.threshold").floatDefault(), s.typicalThreshold(), s.toString());
            assertEquals(g("spec.typical.alpha").floatDefault(), s.typicalAlpha(), s.toString());
        }
        Speculation.PromptLookup p = Speculation.promptLookup();
        assertEquals(g("spec.lookup.min_ngram").defaultValue(), p.minNgram());
        assertEquals(g("spec.lookup.max_ngram").defaultValue(), p.maxNgram());
        assertEquals(g("spec.lookup.max_branches").defaultValue(), p.maxBranches());
        assertEquals(g("spec.recycling.k").defaultValue(), Speculation.tokenRecycling().recyclingK());
        Speculation.Lookahead l = Speculation.lookahead();
        assertEquals(g("spec.lookahead.w").defaultValue(), l.windowWidth());
        assertEquals(g("spec.lookahead.n").defaultValue(), l.ngramSize());
        assertEquals(g("spec.lookahead.g").defaultValue(), l.maxCandidates());
        Speculation.DraftModel d = Speculation.draftModel(model);
        assertEquals(g("spec.draft.p_min").floatDefault(), d.draftMinProbability());
        assertEquals(g("spec.draft.p_branch").floatDefault(), d.draftBranchProbability());
        try (MedusaHeads heads = MedusaHeads.load(model, TestHeads.identity(model, dir, 2, model.fingerprint()))) {
            Speculation.Medusa m = Speculation.medusa(heads);
            assertEquals(g("spec.medusa.static_tree").boolDefault(), m.staticTree());
            assertEquals(g("spec.medusa.top_k").defaultValue(), m.candidatesPerHead());
            Speculation lossy = m.withLossyTypicalAcceptance();
            assertTrue(lossy.typicalAcceptance());
            assertEquals(g("spec.typical.threshold").floatDefault(), lossy.typicalThreshold());
            assertEquals(g("spec.typical.alpha").floatDefault(), lossy.typicalAlpha());
        }
    }

    @Test
    void sessionModelAndTrainerDefaultsAreTheEngines() {
        SessionOptions s = SessionOptions.defaults();
        SettingTable st = SettingTable.SESSION;
        assertEquals(st.get("n_ctx").defaultValue(), s.contextSize());
        assertEquals(st.get("n_batch").defaultValue(), s.batchSize());
        assertEquals(st.get("n_threads").defaultValue(), s.threads());
        assertEquals(SessionOptions.FlashAttention.fromCode(st.get("flash_attn").intDefault()), s.flashAttention());
        assertEquals(st.get("strict_numerics").boolDefault(), s.strictNumerics());
        assertEquals(st.get("kv_f32").boolDefault(), s.kvCacheF32());

        ModelOptions m = ModelOptions.defaults();
        SettingTable mt = SettingTable.MODEL;
        assertEquals(mt.get("n_threads").defaultValue(), m.threads());
        assertEquals(mt.get("n_gpu_layers").defaultValue(), m.gpuLayers());
        assertEquals(mt.get("use_mmap").boolDefault(), m.mmap());
        assertEquals(mt.get("n_ctx").defaultValue(), m.contextSize());

        MedusaTrainer t = MedusaTrainer.builder(Path.of("corpus.txt")).build();
        SettingTable tt = SettingTable.TRAIN;
        assertEquals(tt.get("heads").defaultValue(), t.heads());
        assertEquals(tt.get("layers").defaultValue(), t.layers());
        assertEquals(tt.get("steps").defaultValue(), t.steps());
        assertEquals(Duration.ZERO, t.maxDuration());
        assertEquals(tt.get("max_minutes").defaultValue(), t.maxDuration().toMillis() / 60000.0);
        assertEquals(tt.get("batch").defaultValue(), t.batchSize());
        assertEquals(tt.get("lr").floatDefault(), t.learningRate());
        assertEquals(tt.get("warmup").floatDefault(), t.warmup());
        assertEquals(tt.get("weight_decay").floatDefault(), t.weightDecay());
        assertEquals(tt.get("ctx").defaultValue(), t.contextSize());
        assertEquals(tt.get("max_tokens").defaultValue(), t.maxTokens());
        assertEquals(tt.get("holdout").floatDefault(), t.holdout());
        assertEquals(tt.get("max_eval").defaultValue(), t.maxEvalExamples());
        assertEquals(tt.get("self_generated").boolDefault(), t.selfGenerated());
        assertEquals(tt.get("regressive").boolDefault(), t.regressive());
        assertEquals(tt.get("feature").boolDefault(), t.feature());
        assertEquals(tt.get("attention").defaultValue(), t.attention());
        assertEquals(tt.get("threads").defaultValue(), t.threads());
        assertEquals(tt.get("seed").defaultValue(), t.seed());

        EarlyExit e = EarlyExit.builder(1).build();
        SettingTable et = SettingTable.EARLY_EXIT;
        assertEquals(et.get("layers").defaultValue(), e.layers());
        assertEquals(et.get("steps").defaultValue(), e.steps());
        assertEquals(et.get("batch").defaultValue(), e.batchSize());
        assertEquals(et.get("lr").floatDefault(), e.learningRate());
        assertEquals(et.get("max_tokens").defaultValue(), e.maxTokens());
        assertEquals(et.get("holdout").floatDefault(), e.holdout());
        assertEquals(et.get("threads").defaultValue(), e.threads());
        assertEquals(et.get("seed").defaultValue(), e.seed());
        assertEquals(et.settings().size(), e.settings().names().length, "every early-exit setting is passed");
    }

    @Test
    void theContextSizeRangeIsTheEngines() {
        Setting n = SettingTable.SESSION.get("n_ctx");
        assertEquals(n.min(), SessionOptions.minContextSize());
        assertEquals(n.max(), SessionOptions.maxContextSize());
        assertEquals(SettingTable.MODEL.get("n_ctx").min(), SessionOptions.minContextSize());
        assertEquals(SettingTable.MODEL.get("n_ctx").max(), SessionOptions.maxContextSize());
        int min = SessionOptions.minContextSize();
        int max = SessionOptions.maxContextSize();
        assertDoesNotThrow(() -> SessionOptions.builder().contextSize(min).build());
        assertDoesNotThrow(() -> SessionOptions.builder().contextSize(max).build());
        assertThrows(IllegalArgumentException.class, () -> SessionOptions.builder().contextSize(min - 1).build());
        assertThrows(IllegalArgumentException.class, () -> SessionOptions.builder().contextSize(max + 1).build());
    }

    /** How a Java property reaches an engine setting: its table, its name, the Java label, a setter. */
    private record Case(SettingTable table, String setting, String label, DoubleConsumer apply) {}

    private List<Case> cases() {
        List<Case> c = new ArrayList<>();
        SettingTable m = SettingTable.MODEL;
        SettingTable s = SettingTable.SESSION;
        SettingTable t = SettingTable.TRAIN;
        c.add(new Case(m, "n_threads", "threads", v -> ModelOptions.builder().threads((int) v).build()));
        c.add(new Case(m, "n_gpu_layers", "gpuLayers", v -> ModelOptions.builder().gpuLayers((int) v).build()));
        c.add(new Case(m, "n_ctx", "contextSize", v -> ModelOptions.builder().contextSize((int) v).build()));
        c.add(new Case(s, "n_ctx", "contextSize", v -> SessionOptions.builder().contextSize((int) v).build()));
        c.add(new Case(s, "n_batch", "batchSize", v -> SessionOptions.builder().batchSize((int) v).build()));
        c.add(new Case(s, "n_threads", "threads", v -> SessionOptions.builder().threads((int) v).build()));
        c.add(new Case(G, "max_tokens", "maxTokens", v -> GenerationOptions.builder().maxTokens((int) v).build()));
        c.add(new Case(G, "temperature", "temperature",
                v -> GenerationOptions.builder().temperature((float) v).build()));
        c.add(new Case(G, "top_k", "topK", v -> GenerationOptions.builder().topK((int) v).build()));
        c.add(new Case(G, "top_p", "topP", v -> GenerationOptions.builder().topP((float) v).build()));
        c.add(new Case(G, "min_p", "minP", v -> GenerationOptions.builder().minP((float) v).build()));
        c.add(new Case(G, "repeat_penalty", "repeatPenalty",
                v -> GenerationOptions.builder().repeatPenalty((float) v).build()));
        c.add(new Case(G, "repeat_last_n", "repeatLastN",
                v -> GenerationOptions.builder().repeatLastN((int) v).build()));
        c.add(new Case(G, "seed", "seed", v -> GenerationOptions.builder().seed((long) v)));
        c.add(new Case(G, "spec.max_nodes", "maxDraftTokens", v -> Speculation.auto().withMaxDraftTokens((int) v)));
        c.add(new Case(G, "spec.max_depth", "maxDepth", v -> Speculation.auto().withMaxDepth((int) v)));
        c.add(new Case(G, "spec.lookup.min_ngram", "minNgram", v -> Speculation.promptLookup((int) v, 64, 4)));
        c.add(new Case(G, "spec.lookup.max_ngram", "maxNgram", v -> Speculation.promptLookup(1, (int) v, 4)));
        c.add(new Case(G, "spec.lookup.max_branches", "maxBranches", v -> Speculation.promptLookup(1, 4, (int) v)));
        c.add(new Case(G, "spec.recycling.k", "recyclingK", v -> Speculation.tokenRecycling((int) v)));
        c.add(new Case(G, "spec.lookahead.w", "windowWidth (w)", v -> Speculation.lookahead((int) v, 4, 8)));
        c.add(new Case(G, "spec.lookahead.n", "ngramSize (n)", v -> Speculation.lookahead(8, (int) v, 8)));
        c.add(new Case(G, "spec.lookahead.g", "maxCandidates (g)", v -> Speculation.lookahead(8, 4, (int) v)));
        c.add(new Case(G, "spec.draft.p_min", "draft minProbability",
                v -> Speculation.draftModel(model, (float) v, 0.5f)));
        c.add(new Case(G, "spec.draft.p_branch", "draft branchProbability",
                v -> Speculation.draftModel(model, 0.5f, (float) v)));
        c.add(new Case(G, "spec.typical.threshold", "typical acceptance threshold",
                v -> Speculation.auto().withLossyTypicalAcceptance((float) v, 0.3f)));
        c.add(new Case(G, "spec.typical.alpha", "typical acceptance alpha",
                v -> Speculation.auto().withLossyTypicalAcceptance(0.09f, (float) v)));
        c.add(new Case(t, "heads", "heads", v -> MedusaTrainer.builder(Path.of("c")).heads((int) v).build()));
        c.add(new Case(t, "layers", "layers", v -> MedusaTrainer.builder(Path.of("c")).layers((int) v).build()));
        c.add(new Case(t, "steps", "steps", v -> MedusaTrainer.builder(Path.of("c")).steps((int) v).build()));
        c.add(new Case(t, "batch", "batchSize", v -> MedusaTrainer.builder(Path.of("c")).batchSize((int) v).build()));
        c.add(new Case(t, "lr", "learningRate",
                v -> MedusaTrainer.builder(Path.of("c")).learningRate((float) v).build()));
        c.add(new Case(t, "warmup", "warmup", v -> MedusaTrainer.builder(Path.of("c")).warmup((float) v).build()));
        c.add(new Case(t, "weight_decay", "weightDecay",
                v -> MedusaTrainer.builder(Path.of("c")).weightDecay((float) v).build()));
        c.add(new Case(t, "ctx", "contextSize (0 = the model's)",
                v -> MedusaTrainer.builder(Path.of("c")).contextSize((int) v).build()));
        c.add(new Case(t, "max_tokens", "maxTokens",
                v -> MedusaTrainer.builder(Path.of("c")).maxTokens((long) v).build()));
        c.add(new Case(t, "holdout", "holdout", v -> MedusaTrainer.builder(Path.of("c")).holdout((float) v).build()));
        c.add(new Case(t, "max_eval", "maxEvalExamples",
                v -> MedusaTrainer.builder(Path.of("c")).maxEvalExamples((int) v).build()));
        c.add(new Case(t, "threads", "threads", v -> MedusaTrainer.builder(Path.of("c")).threads((int) v).build()));
        c.add(new Case(t, "seed", "seed", v -> MedusaTrainer.builder(Path.of("c")).seed((long) v).build()));
        SettingTable e = SettingTable.EARLY_EXIT;
        c.add(new Case(e, "layers", "layers", v -> EarlyExit.builder((int) v).build()));
        c.add(new Case(e, "steps", "steps", v -> EarlyExit.builder(1).steps((int) v).build()));
        c.add(new Case(e, "batch", "batchSize", v -> EarlyExit.builder(1).batchSize((int) v).build()));
        c.add(new Case(e, "lr", "learningRate", v -> EarlyExit.builder(1).learningRate((float) v).build()));
        c.add(new Case(e, "max_tokens", "maxTokens", v -> EarlyExit.builder(1).maxTokens((long) v).build()));
        c.add(new Case(e, "holdout", "holdout", v -> EarlyExit.builder(1).holdout((float) v).build()));
        c.add(new Case(e, "threads", "threads", v -> EarlyExit.builder(1).threads((int) v).build()));
        c.add(new Case(e, "seed", "seed", v -> EarlyExit.builder(1).seed((long) v).build()));
        return c;
    }

    @Test
    void valuesJustOutsideEachRangeAreRefusedWithTheJavaNameAndTheEnginesRange() {
        int checked = 0;
        for (Case c : cases()) {
            Setting s = c.table().get(c.setting());
            boolean integer = s.type() == Setting.Type.INT;
            boolean isLong = c.label().equals("seed")
                    || c.table() != G && c.label().equals("maxTokens");
            double limit = isLong ? Long.MAX_VALUE : integer ? Integer.MAX_VALUE : Float.MAX_VALUE;
            // GenerationOptions' seed leaves the top of the range to RANDOM_SEED (javaOnlyRulesStay)
            boolean randomSeed = c.table() == G && c.setting().equals("seed");
            // below the range, then above it
            for (int end = 0; end < 2; end++) {
                double bound = end == 0 ? s.min() : s.max();
                boolean open = end == 0 ? s.minOpen() : s.maxOpen();
                double outside;
                if (open) {
                    outside = integer ? bound : (float) bound;
                } else if (integer) {
                    outside = end == 0 ? bound - 1 : bound + 1;
                } else {
                    outside = end == 0 ? Math.nextDown((float) bound) : Math.nextUp((float) bound);
                }
                if (Math.abs(outside) > limit || (s.zeroOk() && outside == 0)) {
                    continue; // not expressible in the Java type (e.g. topK above int's range)
                }
                String what = c.label() + " = " + outside + " (" + s + ")";
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> c.apply().accept(outside), what);
                String m = e.getMessage();
                assertTrue(m.startsWith(c.label() + " must be "), what + ": " + m);
                assertTrue(m.contains(range(s)), what + ": " + m + " lacks " + range(s));
                checked++;
                // the end itself, where it is closed, is allowed (a float option reaches it where the end is a
                // float: holdout's 0.01 is not, and 0.01f lies below it)
                if (!open && !(randomSeed && end == 1) && (integer || (float) bound == bound)) {
                    double edge = integer ? bound : (float) bound;
                    assertDoesNotThrow(() -> c.apply().accept(edge), c.label() + " = " + bound);
                }
            }
            if (s.zeroOk()) {
                assertDoesNotThrow(() -> c.apply().accept(0), c.label() + " = 0");
            }
        }
        assertTrue(checked > 60, "checked " + checked);
        // the messages the tests of the examples and their users rely on
        assertEquals("heads must be in [1, 16], got 0", assertThrows(IllegalArgumentException.class,
                () -> MedusaTrainer.builder(Path.of("c")).heads(0).build()).getMessage());
        assertEquals("windowWidth (w) must be in [1, 32], got 64", assertThrows(IllegalArgumentException.class,
                () -> Speculation.lookahead(64, 4, 4)).getMessage());
        // where 0 stands for a default, the message names the range (the option's documentation says what 0 is)
        String context = assertThrows(IllegalArgumentException.class,
                () -> SessionOptions.builder().contextSize(4).build()).getMessage();
        assertTrue(context.startsWith("contextSize must be in [8, ") && context.endsWith("], got 4"), context);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GenerationOptions.builder().topP(0).build())
                .getMessage().startsWith("topP must be in (0, 1], got 0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Speculation.lookahead(8, 4, 8).withMaxDepth(2)
                .withLossyTypicalAcceptance(Float.NaN, 0.3f)).getMessage().startsWith("typical acceptance threshold"));
        IllegalArgumentException fraction = assertThrows(IllegalArgumentException.class,
                () -> GenerationOptions.builder().temperature(Float.POSITIVE_INFINITY).build());
        assertTrue(fraction.getMessage().startsWith("temperature must be in [0, 100], got "), fraction.getMessage());
    }

    @Test
    void javaOnlyRulesStay() {
        // relations between settings and what a value stands for are the Java side's to say
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Speculation.promptLookup(3, 2, 1));
        assertEquals("maxNgram (2) must be at least minNgram (3)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> GenerationOptions.builder().seed(GenerationOptions.RANDOM_SEED));
        assertTrue(e.getMessage().contains("randomSeed()"), e.getMessage());
        assertEquals(GenerationOptions.RANDOM_SEED, GenerationOptions.builder().seed(3).randomSeed().build().seed());
        assertThrows(IllegalArgumentException.class,
                () -> MedusaTrainer.builder(Path.of("c")).maxDuration(Duration.ofMinutes(100_001)).build());
        assertEquals(Duration.ofMinutes(100_000),
                MedusaTrainer.builder(Path.of("c")).maxDuration(Duration.ofMinutes(100_000)).build().maxDuration());
    }

    @Test
    void everyGenerationSettingIsReachableFromJava() throws IOException {
        Set<String> passed = new HashSet<>();
        try (MedusaHeads heads = MedusaHeads.load(model, TestHeads.identity(model, dir, 2, model.fingerprint()))) {
            for (Speculation s : List.of(Speculation.none(), Speculation.auto(), Speculation.promptLookup(),
                    Speculation.tokenRecycling(), Speculation.lookahead(), Speculation.draftModel(model),
                    Speculation.medusa(heads))) {
                NamedValues v = GenerationOptions.defaults().settings();
                s.settings(v);
                passed.addAll(List.of(v.names()));
            }
        }
        Set<String> table = new HashSet<>();
        for (Setting s : G.settings()) {
            table.add(s.name());
        }
        assertEquals(table, passed);
        // and every value Java passes by default is the engine's default
        NamedValues v = GenerationOptions.defaults().settings();
        Speculation.lookahead().settings(v);
        for (int i = 0; i < v.names().length; i++) {
            Setting s = G.get(v.names()[i]);
            double expected = s.type() == Setting.Type.FLOAT ? s.floatDefault() : s.defaultValue();
            assertEquals(expected, v.values()[i], s.name());
        }
        assertEquals(Set.of("n_threads", "n_gpu_layers", "use_mmap", "n_ctx", "rpc_timeout_ms"),
                Set.of(ModelOptions.defaults().settings().names()));
        Set<String> session = new HashSet<>();
        for (Setting s : SettingTable.SESSION.settings()) {
            session.add(s.name());
        }
        assertEquals(session, Set.of(SessionOptions.defaults().settings().names()));
    }

    @Test
    void unknownSettingsAreTheCallersBug() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> G.get("max_tokenz"));
        assertTrue(e.getMessage().contains("max_tokenz"), e.getMessage());
        assertFalse(G.settings().isEmpty());
    }

    /** The range as the engine writes it (C++'s default formatting of a double: %g, six digits). */
    private static String range(Setting s) {
        return (s.minOpen() ? "(" : "[") + cpp(s.min()) + ", " + cpp(s.max()) + (s.maxOpen() ? ")" : "]");
    }

    /** The engine's number format: whole numbers in full, others with six significant digits (%g). */
    private static String cpp(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        BigDecimal d = new BigDecimal(v).round(new MathContext(6));
        int exponent = d.precision() - d.scale() - 1;
        if (exponent < -4 || exponent >= 6) {
            BigDecimal mantissa = d.movePointLeft(exponent).stripTrailingZeros();
            return mantissa.toPlainString() + "e" + (exponent < 0 ? "-" : "+")
                    + String.format("%02d", Math.abs(exponent));
        }
        return d.stripTrailingZeros().toPlainString();
    }
}
