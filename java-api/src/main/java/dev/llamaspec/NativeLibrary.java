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
        Bundle bundle = bundle(base + BUNDLE, "this jar's " + BUNDLE);
        Bundle vulkan = bundle(base + VULKAN + BUNDLE, "the Vulkan jar's " + BUNDLE);
        if (!vulkan.entries().isEmpty()) {
            checkVulkan(bundle, vulkan);
        }
        if (bundle.entries().isEmpty()) {
            systemLoad(extract(base + fileName, platform).getAbsolutePath(), tried);
            return;
        }
        // What the JNI library needs, carried beside it (bundle.txt: "lib NAME" in load order, "backend
        // NAME"), extracted together into one folder of JavaCPP's cache named after the JNI library's
        // checksum (another build never shares it) and loaded first, so that the JNI library's own
        // dependencies resolve to them.
        // The Vulkan jar's files go to a folder of their own (vulkan/), so that a Vulkan backend
        // extracted once is not loaded after its jar left the class path.
        Path folder = bundleDir(base + fileName, platform);
        List<Path> libraries = new ArrayList<>();
        List<String> backendDirs = new ArrayList<>();
        extractAll(bundle, base, folder, platform, libraries, backendDirs);
        extractAll(vulkan, base + VULKAN, folder.resolve(VULKAN), platform, libraries, backendDirs);
        Path jni = copy(base + fileName, folder.resolve(fileName), platform);
        for (Path library : libraries) {
            systemLoad(library.toString(), List.of(library.toString()));
        }
        systemLoad(jni.toString(), tried);
        if (!backendDirs.isEmpty()) {
            nBackendDir(String.join(":", backendDirs));
        }
    }

    /** Extracts a bundle's files from base into folder: libraries to load, and its backends/ folder. */
    private static void extractAll(Bundle bundle, String base, Path folder, String platform, List<Path> libraries,
            List<String> backendDirs) {
        for (String[] entry : bundle.entries()) {
            boolean backend = entry[0].equals("backend");
            String resource = base + (backend ? "backends/" : "") + entry[1];
            Path part = copy(resource, (backend ? folder.resolve("backends") : folder).resolve(entry[1]), platform);
            if (!backend) {
                libraries.add(part);
            } else if (!backendDirs.contains(part.getParent().toString())) {
                backendDirs.add(part.getParent().toString());
            }
        }
    }

    /** The optional Vulkan jar's folder, beside the main jar's files under native/PLATFORM/. */
    static final String VULKAN = "vulkan/";

    /** The Vulkan jar must be of the ggml this jar carries: its backend links that ggml's libraries. */
    private static void checkVulkan(Bundle main, Bundle vulkan) {
        if (main.entries().isEmpty()) {
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY, "the Vulkan jar is on the class path, but this llamaspec "
                    + "jar does not carry ggml's libraries (built with LLAMASPEC_BUNDLE_LLAMA off or another llama.cpp): "
                    + "remove the Vulkan jar, or use the llamaspec jar it was built with");
        }
        if (vulkan.ggml() == null || !vulkan.ggml().equals(main.ggml())) {
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY, "the Vulkan jar on the class path is for ggml "
                    + (vulkan.ggml() == null ? "(not named)" : vulkan.ggml()) + ", but this llamaspec jar carries ggml "
                    + (main.ggml() == null ? "(not named)" : main.ggml())
                    + ": use the Vulkan jar of the same llamaspec version (classifier <platform>-vulkan)");
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

    /**
     * A bundle list: the ggml version its libraries are of ("ggml VERSION", null when not named) and
     * its files ({kind, name}: "lib NAME" in load order, "backend NAME").
     */
    record Bundle(String ggml, List<String[]> entries) {}

    /** The bundle list at resource; no entries when the jar carries none. */
    static Bundle bundle(String resource, String what) {
        List<String[]> entries = new ArrayList<>();
        String ggml = null;
        try (InputStream in = NativeLibrary.class.getResourceAsStream(resource)) {
            if (in == null) {
                return new Bundle(null, entries);
            }
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                String t = line.trim();
                if (t.isEmpty() || t.startsWith("#")) {
                    continue;
                }
                String[] parts = t.split("\\s+");
                if (parts.length == 2 && parts[0].equals("ggml")) {
                    ggml = parts[1];
                    continue;
                }
                if (parts.length != 2 || !(parts[0].equals("lib") || parts[0].equals("backend"))
                        || parts[1].contains("/") || parts[1].contains("..")) {
                    throw new LlamaException(ErrorCode.NATIVE_LIBRARY, what + " has a line that is not 'lib NAME', "
                            + "'backend NAME' or 'ggml VERSION': '" + t + "'; build the jar again");
                }
                entries.add(parts);
            }
        } catch (IOException e) {
            throw new LlamaException(ErrorCode.NATIVE_LIBRARY, "cannot read " + what + ": " + e.getMessage(), e);
        }
        return new Bundle(ggml, entries);
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

    /** Where ggml loads its backends from (the extracted backends/ folders, ':' between); before the first model. */
    private static native void nBackendDir(String dir);

    /** The loaded ggml backends (loading them when no model did yet). */
    static List<Backend> backends() {
        ensureLoaded();
        List<Backend> out = new ArrayList<>();
        for (String entry : nBackends()) {
            int tab = entry.lastIndexOf('\t');
            out.add(new Backend(entry.substring(0, tab), Integer.parseInt(entry.substring(tab + 1))));
        }
        return List.copyOf(out);
    }

    private static native String[] nBackends();

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
