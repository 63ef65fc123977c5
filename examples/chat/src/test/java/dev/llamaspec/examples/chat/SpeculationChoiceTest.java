package dev.llamaspec.examples.chat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.llamaspec.Speculation;
import org.junit.jupiter.api.Test;

class SpeculationChoiceTest {

    @Test
    void namesMapToTheLibrarysStrategies() {
        assertEquals(Speculation.none(), SpeculationChoice.of("none", null, true, null).speculation());
        assertEquals(Speculation.promptLookup(), SpeculationChoice.of("lookup", null, true, null).speculation());
        assertEquals(Speculation.tokenRecycling(), SpeculationChoice.of("recycling", null, true, null).speculation());
        assertEquals(Speculation.lookahead(), SpeculationChoice.of("lookahead", null, true, null).speculation());
        assertEquals(Speculation.auto(), SpeculationChoice.of("AUTO", null, true, null).speculation());
        assertEquals("lookup", SpeculationChoice.of("prompt-lookup", null, true, null).name());
    }

    @Test
    void parametersApplyToTheStrategy() {
        SpeculationChoice c = SpeculationChoice.of("lookahead", 12, false, new int[] {4, 3, 2});
        assertEquals(Speculation.lookahead(4, 3, 2).withMaxDraftTokens(12).withBudget(false), c.speculation());
        assertEquals(Speculation.promptLookup().withMaxDraftTokens(12).withBudget(false),
                c.withName("lookup").speculation());
        // the lookahead parameters come back when lookahead is chosen again
        assertEquals(c.speculation(), c.withName("none").withName("lookahead").speculation());
        assertEquals(Speculation.none(), c.withName("none").speculation());
        assertTrue(c.describe().contains("w 4, n 3, g 2"), c.describe());
        assertTrue(c.describe().contains("budget off"), c.describe());
    }

    @Test
    void medusaAndDraftAreRejectedAsNotBuiltYet() {
        for (String name : new String[] {"medusa", "draft", "Medusa"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> SpeculationChoice.of(name, null, true, null));
            assertTrue(e.getMessage().contains("not built yet"), e.getMessage());
            assertTrue(e.getMessage().contains(SpeculationChoice.NAMES), e.getMessage());
        }
    }

    @Test
    void unknownNamesAndBadParametersAreClearErrors() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SpeculationChoice.of("fast", null, true, null));
        assertTrue(e.getMessage().contains("unknown speculation 'fast'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SpeculationChoice.of("none", 0, true, null));
        assertEquals("--max-draft must be in [1, 64], got 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> SpeculationChoice.of("auto", null, true, new int[] {0, 4, 8}));
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
        assertFalse(SpeculationChoice.of("none", null, true, null).describe().contains("budget"));
    }
}
