package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Speculation.parse, the canonical names and the typed with... chains. */
class SpeculationParseTest extends WithTestModel {
    @TempDir
    Path dir;

    @Test
    void everyNameAndAliasParsesCaseInsensitively() {
        Map<String, Speculation> expected = Map.of("none", Speculation.none(), "plain", Speculation.none(),
                "lookup", Speculation.promptLookup(), "prompt-lookup", Speculation.promptLookup(),
                "recycling", Speculation.tokenRecycling(), "token-recycling", Speculation.tokenRecycling(),
                "lookahead", Speculation.lookahead(), "auto", Speculation.auto());
        for (Map.Entry<String, Speculation> e : expected.entrySet()) {
            assertEquals(e.getValue(), Speculation.parse(e.getKey()), e.getKey());
            assertEquals(e.getValue(), Speculation.parse(e.getKey().toUpperCase()), e.getKey());
            assertEquals(e.getValue(), Speculation.parse(e.getKey(), null, null), e.getKey());
        }
        assertInstanceOf(Speculation.None.class, Speculation.parse("None"));
        assertInstanceOf(Speculation.PromptLookup.class, Speculation.parse("Prompt-Lookup"));
        assertInstanceOf(Speculation.TokenRecycling.class, Speculation.parse("RECYCLING"));
        assertInstanceOf(Speculation.Lookahead.class, Speculation.parse("LookAhead"));
        assertInstanceOf(Speculation.Auto.class, Speculation.parse("AUTO"));
        assertThrows(NullPointerException.class, () -> Speculation.parse(null));
    }

    @Test
    void medusaAndDraftTakeTheirHeadsAndModel() throws IOException {
        Path file = TestHeads.identity(model, dir, 2, model.fingerprint());
        try (MedusaHeads heads = MedusaHeads.load(model, file)) {
            for (String name : List.of("medusa", "MEDUSA", "Medusa")) {
                Speculation s = Speculation.parse(name, heads, null);
                assertEquals(Speculation.medusa(heads), s, name);
                assertSame(heads, ((Speculation.Medusa) s).heads());
            }
            for (String name : List.of("draft", "draft-model", "Draft-Model")) {
                Speculation s = Speculation.parse(name, heads, model);
                assertEquals(Speculation.draftModel(model), s, name);
                assertSame(model, ((Speculation.DraftModel) s).draftModel());
            }
            // what a strategy does not need is not used
            assertEquals(Speculation.auto(), Speculation.parse("auto", heads, model));
        }
    }

    @Test
    void medusaWithoutHeadsAndDraftWithoutAModelAreExplained() {
        IllegalArgumentException medusa = assertThrows(IllegalArgumentException.class,
                () -> Speculation.parse("medusa", null, model));
        assertTrue(medusa.getMessage().contains("needs Medusa heads")
                && medusa.getMessage().contains("Speculation.medusa"), medusa.getMessage());
        for (String name : List.of("draft", "draft-model", "DRAFT")) {
            IllegalArgumentException draft = assertThrows(IllegalArgumentException.class,
                    () -> Speculation.parse(name, null, null));
            assertTrue(draft.getMessage().contains("needs a draft model")
                    && draft.getMessage().contains("Speculation.draftModel"), draft.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Speculation.parse("medusa"));
    }

    @Test
    void unknownNamesListTheKnownOnes() {
        for (String name : List.of("fast", "", "medusa-please", " auto", "lookahead2")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Speculation.parse(name));
            assertEquals("unknown speculation '" + name + "' (none, lookup, recycling, lookahead, auto, medusa, draft)",
                    e.getMessage());
        }
    }

    @Test
    void kindParseReadsTheNamesThatParseReads() {
        Map<String, Speculation.Kind> expected = Map.of("none", Speculation.Kind.NONE, "Plain", Speculation.Kind.NONE,
                "lookup", Speculation.Kind.PROMPT_LOOKUP, "prompt-lookup", Speculation.Kind.PROMPT_LOOKUP,
                "RECYCLING", Speculation.Kind.TOKEN_RECYCLING, "token-recycling", Speculation.Kind.TOKEN_RECYCLING,
                "lookahead", Speculation.Kind.LOOKAHEAD, "auto", Speculation.Kind.AUTO,
                "Medusa", Speculation.Kind.MEDUSA, "draft-model", Speculation.Kind.DRAFT_MODEL);
        for (Map.Entry<String, Speculation.Kind> e : expected.entrySet()) {
            assertEquals(e.getValue(), Speculation.Kind.parse(e.getKey()), e.getKey());
        }
        for (Speculation.Kind kind : Speculation.Kind.values()) {
            assertEquals(kind, Speculation.Kind.parse(kind.canonicalName()));
        }
        for (String name : List.of("none", "lookup", "token-recycling", "lookahead", "AUTO")) {
            assertEquals(Speculation.Kind.parse(name), Speculation.parse(name).kind(), name);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Speculation.Kind.parse("fast"));
        assertEquals("unknown speculation 'fast' (none, lookup, recycling, lookahead, auto, medusa, draft)",
                e.getMessage());
        assertThrows(NullPointerException.class, () -> Speculation.Kind.parse(null));
    }

    @Test
    void canonicalNamesAreTheEnginesAndParseBack() throws IOException {
        // Kind is in the order of sd_spec_type, and its names are sd_spec_type_name's
        List<String> engine = SettingTable.speculationTypes();
        assertEquals(Speculation.Kind.values().length, engine.size(), engine.toString());
        for (Speculation.Kind kind : Speculation.Kind.values()) {
            assertEquals(engine.get(kind.ordinal()), kind.canonicalName(), kind.toString());
        }
        Path file = TestHeads.identity(model, dir, 2, model.fingerprint());
        try (MedusaHeads heads = MedusaHeads.load(model, file)) {
            List<Speculation> all = List.of(Speculation.none(), Speculation.promptLookup(),
                    Speculation.tokenRecycling(), Speculation.auto(), Speculation.lookahead(),
                    Speculation.draftModel(model), Speculation.medusa(heads));
            for (Speculation s : all) {
                assertEquals(s.kind().canonicalName(), s.name());
                assertEquals(engine.get(s.kind().ordinal()), s.name());
                assertEquals(s, Speculation.parse(s.name(), heads, model), s.name());
            }
        }
    }

    @Test
    void withMethodsKeepTheStrategysType() throws IOException {
        Path file = TestHeads.identity(model, dir, 2, model.fingerprint());
        try (MedusaHeads heads = MedusaHeads.load(model, file)) {
            Speculation.Medusa m = Speculation.medusa(heads).withStaticTree(true).withBudget(false)
                    .withCandidatesPerHead(3).withMaxDepth(4).withLossyTypicalAcceptance().withMaxDraftTokens(9)
                    .withStaticTree(false);
            assertFalse(m.staticTree());
            assertEquals(3, m.candidatesPerHead());
            assertEquals(4, m.maxDepth());
            assertEquals(9, m.maxDraftTokens());
            assertFalse(m.budget());
            assertTrue(m.typicalAcceptance());
            assertEquals(Speculation.medusa(heads).withLossyTypicalAcceptance(0.09f, 0.3f).typicalThreshold(),
                    m.typicalThreshold());
            assertEquals(0.3f, m.typicalAlpha());
            assertFalse(m.withExactAcceptance().typicalAcceptance());
        }
        Speculation.Lookahead l = Speculation.lookahead(4, 3, 2).withBudget(false).withMaxDraftTokens(12);
        assertEquals(4, l.windowWidth());
        assertEquals(3, l.ngramSize());
        assertEquals(2, l.maxCandidates());
        Speculation.PromptLookup p = Speculation.promptLookup(2, 3, 1).withMaxDepth(2);
        assertEquals(List.of(2, 3, 1), List.of(p.minNgram(), p.maxNgram(), p.maxBranches()));
        Speculation.TokenRecycling r = Speculation.tokenRecycling(5).withBudget(false);
        assertEquals(5, r.recyclingK());
        Speculation.DraftModel d = Speculation.draftModel(model, 0.2f, 0.5f).withMaxDepth(3);
        assertEquals(0.2f, d.draftMinProbability());
        assertEquals(0.5f, d.draftBranchProbability());
        Speculation.None n = Speculation.none().withBudget(false);
        assertNotEquals(Speculation.none(), n);
        assertEquals("Speculation.none()", n.toString());
        Speculation.Auto a = Speculation.auto().withMaxDraftTokens(5);
        assertEquals(a, Speculation.auto().withMaxDraftTokens(5));
        assertEquals(a.hashCode(), Speculation.auto().withMaxDraftTokens(5).hashCode());
        assertTrue(a.toString().startsWith("Speculation.auto(){maxDraftTokens=5"), a.toString());
    }
}
