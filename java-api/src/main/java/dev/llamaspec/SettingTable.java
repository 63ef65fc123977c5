package dev.llamaspec;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The engine's tables of named settings ({@code sd_model_settings}, {@code sd_session_settings},
 * {@code sd_generation_settings}, {@code sd_train_settings}, {@code sd_early_exit_settings}), read once
 * through JNI when first used. The option classes take their defaults and ranges from here instead of
 * repeating them, and pass their values to the engine by these names ({@link NamedValues}).
 *
 * <p>Reading a table loads the native library: a library that cannot be loaded is a
 * {@link LlamaException} ({@link ErrorCode#NATIVE_LIBRARY}) at the first use, again at every later one,
 * never an error of class initialisation.
 */
enum SettingTable {
    /** {@code sd_model_params}. */
    MODEL,
    /** {@code sd_session_params}. */
    SESSION,
    /** {@code sd_generation_params}, speculation's settings under "spec.". */
    GENERATION,
    /** {@code sd_train_params}. */
    TRAIN,
    /** {@code sd_early_exit_params}. */
    EARLY_EXIT;

    private volatile Map<String, Setting> settings;

    /**
     * The table's name as the engine's JNI functions take it: "model", "session", "generation", "train",
     * "early_exit".
     */
    String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Every setting of the table, in the engine's order. */
    List<Setting> settings() {
        return Collections.unmodifiableList(new ArrayList<>(read().values()));
    }

    /**
     * One setting.
     *
     * @throws IllegalStateException when the engine has no setting of this name (the Java and native
     *     code do not match)
     */
    Setting get(String name) {
        Setting s = read().get(name);
        if (s == null) {
            throw new IllegalStateException("the engine's " + wireName() + " settings have no '" + name + "'");
        }
        return s;
    }

    private Map<String, Setting> read() {
        Map<String, Setting> s = settings;
        if (s == null) {
            NativeLibrary.ensureLoaded();
            Map<String, Setting> byName = new LinkedHashMap<>();
            for (Setting setting : nTable(wireName())) {
                byName.put(setting.name(), setting);
            }
            s = Collections.unmodifiableMap(byName);
            settings = s; // a race reads the same table twice; both results are equal
        }
        return s;
    }

    /** The engine's names of the speculation types ({@code sd_spec_type_name}), in their order. */
    static List<String> speculationTypes() {
        NativeLibrary.ensureLoaded();
        return List.of(nSpeculationTypes());
    }

    static native Setting[] nTable(String table);

    /** Null when the engine allows {@code value} for the setting, else its message with {@code label}. */
    static native String nCheck(String table, String name, String label, double value);

    static native String[] nSpeculationTypes();
}
