package dev.llamaspec;

/** Argument checks shared by the option builders. */
final class Checks {
    private Checks() {}

    static void range(String name, int value, int min, int max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(name + " must be in [" + min + ", " + max + "], got " + value);
        }
    }

    static void finite(String name, float value, float min, float max, boolean minInclusive) {
        boolean aboveMin = minInclusive ? value >= min : value > min;
        if (!Float.isFinite(value) || !aboveMin || value > max) {
            throw new IllegalArgumentException(name + " must be in " + (minInclusive ? "[" : "(") + min + ", " + max
                    + "], got " + value);
        }
    }
}
