package dev.llamaspec;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;

/**
 * Routes llama.cpp's log lines to the {@link System.Logger} named {@value #LOGGER_NAME}. llama.cpp
 * errors are logged at {@code ERROR}; its warnings and information at {@code DEBUG} (it warns about
 * harmless quirks of many model files on every load); its debug output at {@code TRACE}. With a
 * default logging set-up only errors show, and they are also in the exceptions' messages.
 */
final class NativeLog {
    static final String LOGGER_NAME = "dev.llamaspec.llama.cpp";
    private static final Logger LOGGER = System.getLogger(LOGGER_NAME);

    private NativeLog() {}

    static void install() {
        // Lines below the lowest enabled level are dropped in C++ without crossing into Java.
        int minimum = 4;
        Level[] levels = {Level.TRACE, Level.DEBUG, Level.DEBUG, Level.ERROR};
        for (int i = 0; i < levels.length; i++) {
            if (LOGGER.isLoggable(levels[i])) {
                minimum = i;
                break;
            }
        }
        nInstall(minimum);
    }

    /** Called from native code, on the thread that logged; level: 0 debug, 1 info, 2 warn, 3 error. */
    static void log(int level, byte[] line) {
        Level target;
        switch (level) {
            case 3: target = Level.ERROR; break;
            case 2:
            case 1: target = Level.DEBUG; break;
            default: target = Level.TRACE; break;
        }
        if (LOGGER.isLoggable(target)) {
            LOGGER.log(target, new String(line, StandardCharsets.UTF_8));
        }
    }

    private static native void nInstall(int minimumLevel);
}
