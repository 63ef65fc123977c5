package dev.llamaspec;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.Loader;

/**
 * Finds and loads the JNI library once per class loader: first the directory named by the system
 * property {@value #PATH_PROPERTY}, then the library packaged in the jar under
 * {@code dev/llamaspec/native/<platform>/}, extracted to the per-user cache by JavaCPP's
 * {@link Loader#cacheResource}.
 */
final class NativeLibrary {
    static final String PATH_PROPERTY = "llamaspec.library.path";
    private static final String NAME = "llamaspec_jni";

    private static volatile boolean loaded;
    private static LlamaException failure;

    private NativeLibrary() {}

    static void ensureLoaded() {
        if (loaded) {
            return;
        }
        synchronized (NativeLibrary.class) {
            if (loaded) {
                return;
            }
            if (failure != null) {
                throw failure;
            }
            try {
                load();
                NativeLog.install();
                loaded = true;
            } catch (LlamaException e) {
                failure = e;
                throw e;
            }
        }
    }

    private static void load() {
        String fileName = System.mapLibraryName(NAME);
        List<String> tried = new ArrayList<>();
        String dir = System.getProperty(PATH_PROPERTY);
        if (dir != null && !dir.isEmpty()) {
            Path path = Paths.get(dir, fileName).toAbsolutePath();
            tried.add(path.toString());
            if (!Files.isRegularFile(path)) {
                throw new LlamaException(ErrorCode.NATIVE_LIBRARY,
                        "-D" + PATH_PROPERTY + "=" + dir + " has no " + fileName + " (looked for " + path + ")");
            }
            systemLoad(path.toString(), tried);
            return;
        }
        String platform = Loader.getPlatform();
        String resource = "native/" + platform + "/" + fileName;
        tried.add("classpath:dev/llamaspec/" + resource);
        File file;
        try {
            file = Loader.cacheResource(NativeLibrary.class, resource);
        } catch (Exception e) {
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY,
                    "cannot extract " + fileName + " for " + platform + ": " + e.getMessage(), e);
        }
        if (file == null) {
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY,
                    "this jar has no native library for platform " + platform + " (tried " + tried
                            + "); build it with CMake and pass -D" + PATH_PROPERTY + "=DIR");
        }
        systemLoad(file.getAbsolutePath(), tried);
    }

    private static void systemLoad(String path, List<String> tried) {
        try {
            System.load(path);
        } catch (UnsatisfiedLinkError e) {
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY,
                    "cannot load " + path + " (tried " + tried + "): " + e.getMessage()
                            + " - is llama.cpp (libllama) installed where the dynamic linker finds it?", e);
        }
    }
}
