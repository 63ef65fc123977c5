package dev.llamaspec;

/** Argument checks of values that are not engine settings (indices into tables the Java side holds). */
final class Checks {
    private Checks() {}

    static void range(String name, int value, int min, int max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(name + " must be in [" + min + ", " + max + "], got " + value);
        }
    }
}
