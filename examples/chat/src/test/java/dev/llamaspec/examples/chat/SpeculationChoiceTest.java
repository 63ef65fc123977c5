package dev.llamaspec.examples.chat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.llamaspec.Speculation;
import org.junit.jupiter.api.Test;

class SpeculationChoiceTest {
    static final SpeculationChoice.MedusaSettings NO_MEDUSA = SpeculationChoice.MedusaSettings.DEFAULT;

    @Test
    void namesMapToTheLibrarysStrategies() {
        assertEquals(Speculation.none(), SpeculationChoice.of("none", null, true, null, NO_MEDUSA).speculation(Drafters.NONE));
        assertEquals(Speculation.promptLookup(), SpeculationChoice.of("lookup", null, true, null, NO_MEDUSA).speculation(Drafters.NONE));
        assertEquals(Speculation.tokenRecycling(), SpeculationChoice.of("recycling", null, true, null, NO_MEDUSA).speculation(Drafters.NONE));
        assertEquals(Speculation.lookahead(), SpeculationChoice.of("lookahead", null, true, null, NO_MEDUSA).speculation(Drafters.NONE));
        assertEquals(Speculation.auto(), SpeculationChoice.of("AUTO", null, true, null, NO_MEDUSA).speculation(Drafters.NONE));
        assertEquals("lookup", SpeculationChoice.of("prompt-lookup", null, true, null, NO_MEDUSA).name());
    }

    @Test
    void parametersApplyToTheStrategy() {
        SpeculationChoice c = SpeculationChoice.of("lookahead", 12, false, new int[] {4, 3, 2}, NO_MEDUSA);
        assertEquals(Speculation.lookahead(4, 3, 2).withMaxDraftTokens(12).withBudget(false), c.speculation(Drafters.NONE));
        assertEquals(Speculation.promptLookup().withMaxDraftTokens(12).withBudget(false),
                c.withName("lookup").speculation(Drafters.NONE));
        // the lookahead parameters come back when lookahead is chosen again
        assertEquals(c.speculation(Drafters.NONE), c.withName("none").withName("lookahead").speculation(Drafters.NONE));
        assertEquals(Speculation.none(), c.withName("none").speculation(Drafters.NONE));
        assertTrue(c.describe().contains("w 4, n 3, g 2"), c.describe());
        assertTrue(c.describe().contains("budget off"), c.describe());
    }

    @Test
    void medusaAndDraftNeedWhatWasLoadedAtStartup() {
        SpeculationChoice medusa = SpeculationChoice.of("Medusa", 16, false, null,
                new SpeculationChoice.MedusaSettings(true, true));
        assertEquals("medusa", medusa.name());
        assertTrue(medusa.needsHeads());
        assertFalse(medusa.needsDraftModel());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> medusa.speculation(Drafters.NONE));
        assertEquals(SpeculationChoice.NEEDS_HEADS, e.getMessage());
        assertEquals("medusa (static tree, LOSSY typical acceptance; up to 16 draft tokens, budget off)",
                medusa.describe());
        assertEquals("medusa (dynamic tree; up to 32 draft tokens, budget on)",
                SpeculationChoice.of("medusa", null, true, null, NO_MEDUSA).describe());

        for (String name : new String[] {"draft", "draft-model"}) {
            SpeculationChoice draft = SpeculationChoice.of(name, null, true, null, NO_MEDUSA);
            assertEquals("draft", draft.name());
            assertTrue(draft.needsDraftModel());
            e = assertThrows(IllegalArgumentException.class, () -> draft.speculation(Drafters.NONE));
            assertEquals(SpeculationChoice.NEEDS_DRAFT_MODEL, e.getMessage());
        }
        // the other strategies need nothing loaded, and keep the parameters across /spec medusa
        SpeculationChoice lookup = medusa.withName("lookup");
        assertFalse(lookup.needsHeads() || lookup.needsDraftModel());
        assertEquals(Speculation.promptLookup().withMaxDraftTokens(16).withBudget(false),
                lookup.speculation(Drafters.NONE));
    }

    @Test
    void unknownNamesAndBadParametersAreClearErrors() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SpeculationChoice.of("fast", null, true, null, NO_MEDUSA));
        assertTrue(e.getMessage().contains("unknown speculation 'fast'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SpeculationChoice.of("none", 0, true, null, NO_MEDUSA));
        assertEquals("--max-draft must be in [1, 64], got 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> SpeculationChoice.of("auto", null, true, new int[] {0, 4, 8}, NO_MEDUSA));
        assertTrue(e.getMessage().startsWith("--lookahead: "), e.getMessage());
    }

    @Test
    void lookaheadParsesThreeNumbers() {
        assertArrayEquals(new int[] {8, 4, 8}, SpeculationChoice.parseLookahead("8,4,8"));
        assertArrayEquals(new int[] {2, 3, 4}, SpeculationChoice.parseLookahead(" 2, 3 ,4"));
        for (String bad : new String[] {"8,4", "8,4,8,1", "a,b,c", "8,,8", ""}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> SpeculationChoice.parseLookahead(bad));
            assertTrue(e.getMessage().startsWith("--lookahead takes"), e.getMessage());
        }
        assertFalse(SpeculationChoice.of("none", null, true, null, NO_MEDUSA).describe().contains("budget"));
    }
}
