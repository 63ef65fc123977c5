package dev.llamaspec;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Settings as they cross JNI: names of one of the engine's tables ({@link SettingTable}) and their values,
 * in two parallel arrays. The native side starts from the engine's defaults and sets each value by name
 * ({@code sd_*_set}), so nothing depends on an order agreed on both sides.
 */
final class NamedValues {
    private final List<String> names = new ArrayList<>();
    private double[] values = new double[16];

    NamedValues put(String name, double value) {
        if (names.size() == values.length) {
            values = Arrays.copyOf(values, values.length * 2);
        }
        values[names.size()] = value;
        names.add(name);
        return this;
    }

    NamedValues put(String name, boolean value) {
        return put(name, value ? 1 : 0);
    }

    String[] names() {
        return names.toArray(new String[0]);
    }

    double[] values() {
        return Arrays.copyOf(values, names.size());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NamedValues v && v.names.equals(names) && Arrays.equals(v.values(), values());
    }

    @Override
    public int hashCode() {
        return 31 * names.hashCode() + Arrays.hashCode(values());
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("{");
        for (int i = 0; i < names.size(); i++) {
            b.append(i == 0 ? "" : ", ").append(names.get(i)).append('=').append(values[i]);
        }
        return b.append('}').toString();
    }
}
