package dev.llamaspec;

/** One native step, as it crosses JNI: the tokens, their UTF-8 text and the stop code (0 = going on). */
final class StepResult {
    final int[] tokens;
    final byte[] text;
    final int stop;

    StepResult(int[] tokens, byte[] text, int stop) {
        this.tokens = tokens;
        this.text = text;
        this.stop = stop;
    }
}
