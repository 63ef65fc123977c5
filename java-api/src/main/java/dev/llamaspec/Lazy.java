package dev.llamaspec;

import java.util.Objects;
import java.util.function.Supplier;

/**
 * A value made at its first use: the options' defaults come from the engine's tables, which need the
 * native library, so they are read when first asked for, never while a class initialises (a failure
 * there would turn into ExceptionInInitializerError and then NoClassDefFoundError). A failure is thrown
 * to the caller and the next use tries again; two threads may both make the value, which is harmless.
 */
final class Lazy<T> {
    private final Supplier<T> make;
    private volatile T value;

    Lazy(Supplier<T> make) {
        this.make = Objects.requireNonNull(make, "make");
    }

    T get() {
        T v = value;
        if (v == null) {
            v = Objects.requireNonNull(make.get(), "made value");
            value = v;
        }
        return v;
    }
}
