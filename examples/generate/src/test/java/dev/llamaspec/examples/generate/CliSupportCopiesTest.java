package dev.llamaspec.examples.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/** Each example module has its own CliSupport (the modules stand alone); they must stay the same. */
class CliSupportCopiesTest {
    static final String GENERATE = "examples/generate/src/main/java/dev/llamaspec/examples/generate/CliSupport.java";
    static final String[] COPIES = {
        "examples/chat/src/main/java/dev/llamaspec/examples/chat/CliSupport.java",
        "examples/bench/src/main/java/dev/llamaspec/bench/CliSupport.java",
    };

    static Path root() {
        String root = System.getProperty("llamaspec.root");
        return root != null ? Paths.get(root) : Paths.get("../..").toAbsolutePath().normalize();
    }

    /** The file without its package line. */
    static String body(String path) throws IOException {
        return Files.readString(root().resolve(path), StandardCharsets.UTF_8).replaceFirst("(?m)^package [^;]+;", "");
    }

    @Test
    void everyCopyIsTheSameButForItsPackage() throws IOException {
        String generate = body(GENERATE);
        for (String copy : COPIES) {
            assertEquals(generate, body(copy), copy + " differs from " + GENERATE + " (change them together)");
        }
    }
}
