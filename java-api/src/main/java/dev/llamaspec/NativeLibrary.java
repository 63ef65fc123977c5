package dev.llamaspec;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;
import org.bytedeco.javacpp.Loader;

/**
 * Finds and loads the JNI library once per class loader: first the directory named by the system
 * property {@value #PATH_PROPERTY}, then the library packaged in the jar under
 * {@code dev/llamaspec/native/<platform>/}, extracted to the per-user cache by JavaCPP's
 * {@link Loader#cacheResource}. A jar built with a system llama.cpp also carries that llama.cpp's
 * shared libraries and ggml's backends (listed in {@value #BUNDLE}); they are extracted with it into
 * one folder of JavaCPP's cache, loaded first in the listed order, and ggml loads its backends from
 * the extracted folder.
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
        String base = "native/" + platform + "/";
        tried.add("classpath:dev/llamaspec/" + base + fileName);
        if (NativeLibrary.class.getResource(base + fileName) == null) {
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY,
                    "this jar has no native library for platform " + platform + " (tried " + tried
                            + "); build it with CMake and pass -D" + PATH_PROPERTY + "=DIR");
        }
        List<String[]> bundle = bundle(base + BUNDLE);
        if (bundle.isEmpty()) {
            systemLoad(extract(base + fileName, platform).getAbsolutePath(), tried);
            return;
        }
        // What the JNI library needs, carried beside it (bundle.txt: "lib NAME" in load order, "backend
        // NAME"), extracted together into one folder of JavaCPP's cache named after the JNI library's
        // checksum (another build never shares it) and loaded first, so that the JNI library's own
        // dependencies resolve to them.
        Path folder = bundleDir(base + fileName, platform);
        List<Path> libraries = new ArrayList<>();
        Path backends = null;
        for (String[] entry : bundle) {
            boolean backend = entry[0].equals("backend");
            String resource = base + (backend ? "backends/" : "") + entry[1];
            Path part = copy(resource, (backend ? folder.resolve("backends") : folder).resolve(entry[1]), platform);
            if (backend) {
                backends = part.getParent();
            } else {
                libraries.add(part);
            }
        }
        Path jni = copy(base + fileName, folder.resolve(fileName), platform);
        for (Path library : libraries) {
            systemLoad(library.toString(), List.of(library.toString()));
        }
        systemLoad(jni.toString(), tried);
        if (backends != null) {
            nBackendDir(backends.toString());
        }
    }

    /** The cache folder of this JNI library's bundle: JavaCPP's cache dir / llamaspec-PLATFORM-CRC32. */
    private static Path bundleDir(String jniResource, String platform) {
        CRC32 crc = new CRC32();
        try (InputStream in = NativeLibrary.class.getResourceAsStream(jniResource)) {
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                crc.update(buffer, 0, n);
            }
        } catch (IOException e) {
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY, "cannot read dev/llamaspec/" + jniResource + ": " + e, e);
        }
        File cache;
        try {
            cache = Loader.getCacheDir();
        } catch (IOException e) {
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY, "JavaCPP has no cache folder to extract the native "
                    + "libraries into (" + e.getMessage() + "); give a writable folder with -Dorg.bytedeco.javacpp.cachedir=DIR", e);
        }
        return cache.toPath().resolve(String.format("llamaspec-%s-%08x", platform, crc.getValue()));
    }

    /** Copies a resource to target unless a file of the same size is there; returns target. */
    private static Path copy(String resource, Path target, String platform) {
        URL url = NativeLibrary.class.getResource(resource);
        if (url == null) {
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY, "this jar's " + BUNDLE + " names "
                    + target.getFileName() + " but the jar has no dev/llamaspec/" + resource
                    + ": the jar is incomplete; build it again");
        }
        try {
            long size = url.openConnection().getContentLengthLong();
            if (Files.isRegularFile(target) && Files.size(target) == size) {
                return target;
            }
            Files.createDirectories(target.getParent());
            Path partial = Files.createTempFile(target.getParent(), target.getFileName().toString(), ".partial");
            try (InputStream in = url.openStream()) {
                Files.copy(in, partial, StandardCopyOption.REPLACE_EXISTING);
                Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(partial);
            }
            return target;
        } catch (IOException e) {
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY, "cannot extract dev/llamaspec/" + resource + " for "
                    + platform + " to " + target + ": " + e + "; give a writable folder with "
                    + "-Dorg.bytedeco.javacpp.cachedir=DIR", e);
        }
    }

    /** The name of the list of libraries the jar carries beside the JNI library. */
    static final String BUNDLE = "bundle.txt";

    /** The entries of the jar's bundle list ({kind, name}), none when the jar carries no list. */
    private static List<String[]> bundle(String resource) {
        List<String[]> entries = new ArrayList<>();
        try (InputStream in = NativeLibrary.class.getResourceAsStream(resource)) {
            if (in == null) {
                return entries;
            }
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                String t = line.trim();
                if (t.isEmpty() || t.startsWith("#")) {
                    continue;
                }
                String[] parts = t.split("\\s+");
                if (parts.length != 2 || !(parts[0].equals("lib") || parts[0].equals("backend"))
                        || parts[1].contains("/") || parts[1].contains("..")) {
                    throw new LlamaException(ErrorCode.NATIVE_LIBRARY, "this jar's " + BUNDLE + " has a line that is not "
                            + "'lib NAME' or 'backend NAME': '" + t + "'; build the jar again");
                }
                entries.add(parts);
            }
        } catch (IOException e) {
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY, "cannot read this jar's " + BUNDLE + ": " + e.getMessage(), e);
        }
        return entries;
    }

    /** The resource as a file (extracted into JavaCPP's cache from a jar). */
    private static File extract(String resource, String platform) {
        try {
            return Loader.cacheResource(NativeLibrary.class, resource);
        } catch (Exception e) {
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY, "cannot extract " + resource + " for " + platform
                    + " into JavaCPP's cache folder (" + cacheDir() + "): " + e
                    + "; give a writable folder with -Dorg.bytedeco.javacpp.cachedir=DIR", e);
        }
    }

    private static String cacheDir() {
        try {
            return Loader.getCacheDir().toString();
        } catch (Exception e) {
            return System.getProperty("org.bytedeco.javacpp.cachedir", "~/.javacpp/cache") + ", not usable: " + e.getMessage();
        }
    }

    /** Where ggml loads its backends from (the extracted backends/ folder); before the first model. */
    private static native void nBackendDir(String dir);

    private static void systemLoad(String path, List<String> tried) {
        try {
            System.load(path);
        } catch (UnsatisfiedLinkError e) {
            String message = String.valueOf(e.getMessage());
            if (message.contains("GLIBC_")) {
                throw new LlamaException(ErrorCode.NATIVE_LIBRARY, "cannot load " + path + ": it needs a newer C library "
                        + "(glibc) than this system has: " + message + ". The native libraries in this jar were built "
                        + "on Debian sid; run on a system with that glibc or newer, or build llamaspec on this one "
                        + "(docs/building.md)", e);
            }
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY,
                    "cannot load " + path + " (tried " + tried + "): " + message
                            + " - a damaged file (delete it and the folder it is in to extract it again), or a library"
                            + " it needs that the dynamic linker does not find (llama.cpp's libllama when the jar does"
                            + " not carry it)", e);
        }
    }
}
