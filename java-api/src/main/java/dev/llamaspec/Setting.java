package dev.llamaspec;

/**
 * One setting of the engine's tables ({@code sd_setting}): its name, type, allowed range and default, as
 * {@link SettingTable} reads them through JNI. The engine is the one place for defaults and ranges; the
 * option classes take theirs from here and check values with {@link #check(String, double)}, which
 * asks the engine ({@code sd_setting_allows}, {@code sd_setting_error}).
 *
 * @param table        the table's name ("model", "session", "generation", "train")
 * @param name         the engine's name ("max_tokens", "spec.lookahead.w", ...)
 * @param type         how the engine stores it
 * @param min          the lower end of the range
 * @param max          the upper end of the range
 * @param minOpen      whether {@code min} itself is excluded
 * @param maxOpen      whether {@code max} itself is excluded
 * @param zeroOk       whether 0 (standing for a default) is allowed besides the range
 * @param defaultValue the default
 */
record Setting(String table, String name, Type type, double min, double max, boolean minOpen, boolean maxOpen,
        boolean zeroOk, double defaultValue) {

    /** {@code sd_setting_type}. */
    enum Type {
        INT, FLOAT, BOOL
    }

    /** Called from JNI; {@code type} is "int", "float" or "bool". */
    static Setting fromNative(String table, String name, String type, double min, double max, boolean minOpen,
            boolean maxOpen, boolean zeroOk, double defaultValue) {
        return new Setting(table, name, Type.valueOf(type.toUpperCase(java.util.Locale.ROOT)), min, max, minOpen,
                maxOpen, zeroOk, defaultValue);
    }

    int intDefault() {
        return (int) defaultValue;
    }

    long longDefault() {
        return (long) defaultValue;
    }

    float floatDefault() {
        return (float) defaultValue;
    }

    boolean boolDefault() {
        return defaultValue != 0;
    }

    /**
     * Checks a value against the engine's range.
     *
     * @param label the Java property the value was given as, named by the message
     * @throws IllegalArgumentException with the engine's message ("label must be in [min, max], got v")
     */
    void check(String label, double value) {
        String error = SettingTable.nCheck(table, name, label, value);
        if (error != null) {
            throw new IllegalArgumentException(error);
        }
    }

    int check(String label, int value) {
        check(label, (double) value);
        return value;
    }

    long check(String label, long value) {
        check(label, (double) value);
        return value;
    }

    float check(String label, float value) {
        check(label, (double) value);
        return value;
    }
}
