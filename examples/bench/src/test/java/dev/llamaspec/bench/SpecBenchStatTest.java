package dev.llamaspec.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** SpecBench's per-prompt summary: median, least and greatest. */
class SpecBenchStatTest {

    @Test
    void medianOfAnOddAndAnEvenNumberOfPrompts() {
        assertEquals(new SpecBench.Stat(2, 1, 9), SpecBench.stat(new double[] {9, 1, 2}));
        assertEquals(new SpecBench.Stat(2.5, 1, 9), SpecBench.stat(new double[] {3, 9, 1, 2}));
        assertEquals(new SpecBench.Stat(4, 4, 4), SpecBench.stat(new double[] {4}));
        assertEquals(new SpecBench.Stat(0, 0, 0), SpecBench.stat(new double[0]));
    }

    @Test
    void oneDisturbedPromptMovesTheRangeNotTheMedian() {
        // a mean would report 1.25 for five ratios of 1.00 with one disturbed at 2.25
        SpecBench.Stat s = SpecBench.stat(new double[] {1.0, 1.0, 2.25, 1.0, 1.0});
        assertEquals(1.0, s.median());
        assertEquals(2.25, s.max());
    }
}
