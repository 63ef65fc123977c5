package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.bytedeco.javacpp.Loader;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** -Dllamaspec.library.path, in fresh JVMs (a JVM loads the library once). */
class NativeLibraryTest {

    /**
     * Loads a model and prints the first generated words, or the failure; with a second argument
     * "options", uses the classes that read the engine's settings tables instead and prints what each
     * use gave ("loaded", or the LlamaException's code, or another throwable's class).
     */
    public static void main(String[] args) {
        if (args.length > 1 && args[1].equals("options")) {
            List<Supplier<Object>> uses = List.of(GenerationOptions::defaults, GenerationOptions::defaults,
                    GenerationOptions::greedy, Speculation::none, Speculation::auto, SessionOptions::builder,
                    ModelOptions::defaults, () -> MedusaTrainer.builder(Paths.get("corpus.txt")),
                    () -> LlamaModel.load(Paths.get(args[0])));
            StringBuilder out = new StringBuilder();
            for (Supplier<Object> use : uses) {
                try {
                    use.get();
                    out.append(" loaded");
                } catch (LlamaException e) {
                    out.append(' ').append(e.code());
                } catch (Throwable t) {
                    out.append(' ').append(t.getClass().getSimpleName());
                }
            }
            System.out.println(out.toString().trim());
            return;
        }
        try (LlamaModel model = LlamaModel.load(Paths.get(args[0])); Session session = model.newSession()) {
            String text = session.generate("Once upon a time", TestModels.greedy(4)).text();
            if (args.length > 1 && args[1].equals("backends")) {
                // ggml's RPC client (0 devices without RPC servers) is left out: the GPU backends are the point
                List<Backend> backends = LlamaModel.backends().stream().filter(b -> !b.name().equals("RPC")).toList();
                System.out.println("BACKENDS " + backends + " DEVICES " + model.info().devices() + " TEXT " + text);
                return;
            }
            if (args.length > 1 && args[1].equals("maps")) {
                // where the process mapped llama.cpp's libraries and ggml's CPU backend from
                StringBuilder out = new StringBuilder("MAPS");
                try {
                    Files.readAllLines(Paths.get("/proc/self/maps")).stream().map(l -> l.replaceAll("^.* ", ""))
                            .filter(f -> f.matches(".*/lib(llama|ggml|ggml-base|ggml-cpu-[a-z0-9]+)\\.so.*")).distinct()
                            .forEach(f -> out.append(' ').append(f));
                } catch (java.io.IOException e) {
                    out.append(" unreadable: ").append(e);
                }
                System.out.println(out);
                return;
            }
            System.out.println("OK " + text);
        } catch (LlamaException e) {
            System.out.println(e.code() + " " + e.getMessage());
        }
    }

    private static String run(String libraryPath, String... more) throws Exception {
        return runWith(List.of("-D" + NativeLibrary.PATH_PROPERTY + "=" + libraryPath), null, more);
    }

    /** main() in a fresh JVM with these options, {@code first} (when not null) ahead on the class path. */
    private static String runWith(List<String> options, Path first, String... more) throws Exception {
        return runWith(options, first, java.util.Map.of(), more);
    }

    /** The same with more environment variables. */
    private static String runWith(List<String> options, Path first, java.util.Map<String, String> env, String... more)
            throws Exception {
        String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        String classPath = (first != null ? first + System.getProperty("path.separator") : "") + System.getProperty("java.class.path");
        List<String> command = new java.util.ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
        command.addAll(options);
        command.addAll(List.of("-cp", classPath, NativeLibraryTest.class.getName(), TestModels.model().toString()));
        command.addAll(List.of(more));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().putAll(env);
        Process p = builder.start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (InputStream in = p.getInputStream()) {
            in.transferTo(out);
        }
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out.toString(StandardCharsets.UTF_8));
        List<String> lines = out.toString(StandardCharsets.UTF_8).lines().toList();
        return lines.isEmpty() ? "" : lines.get(lines.size() - 1);
    }

    @Test
    void aDirectoryWithTheLibraryIsUsed() throws Exception {
        Path dir = TestModels.root().resolve("java-api/target/classes/dev/llamaspec/native/" + Loader.getPlatform());
        assertTrue(Files.isDirectory(dir), dir.toString());
        String line = run(dir.toString());
        assertTrue(line.startsWith("OK , there was"), line);
    }

    @Test
    void aDirectoryWithoutTheLibraryIsAClearError() throws Exception {
        String line = run("/nonexistent/llamaspec-libs");
        assertTrue(line.startsWith("NATIVE_LIBRARY "), line);
        assertTrue(line.contains("/nonexistent/llamaspec-libs") && line.contains("libllamaspec_jni.so"), line);
    }

    @Test
    void withoutTheLibraryTheSettingsTablesFailAsLlamaExceptionsEveryTime() throws Exception {
        // the options read their defaults from the native library: its absence is a LlamaException at
        // each use, never an ExceptionInInitializerError or NoClassDefFoundError
        assertEquals("NATIVE_LIBRARY ".repeat(9).trim(), run("/nonexistent/llamaspec-libs", "options"));
        Path dir = TestModels.root().resolve("java-api/target/classes/dev/llamaspec/native/" + Loader.getPlatform());
        assertEquals("loaded ".repeat(9).trim(), run(dir.toString(), "options"));
    }

    private static Path platformDir() {
        return TestModels.root().resolve("java-api/target/classes/dev/llamaspec/native/" + Loader.getPlatform());
    }

    @Test
    void theLibrariesTheJarCarriesAreTheOnesLoaded() throws Exception {
        Path bundle = platformDir().resolve(NativeLibrary.BUNDLE);
        Assumptions.assumeTrue(Files.isRegularFile(bundle),
                "built with llama.cpp linked in (submodule or fetch): the jar carries no libraries");
        List<String> entries = Files.readAllLines(bundle).stream().filter(l -> !l.startsWith("#") && !l.isBlank()).toList();
        assertTrue(entries.contains("lib libllama.so.0") && entries.stream().anyMatch(e -> e.startsWith("backend libggml-cpu")),
                entries.toString());
        String line = runWith(List.of(), null, "maps");
        assertTrue(line.startsWith("MAPS "), line);
        // every llama.cpp and ggml library mapped comes from the one extracted folder, none from the system's
        String[] files = line.substring(5).split(" ");
        Path folder = Paths.get(files[0].replaceAll("/backends/[^/]*$", "/x")).getParent();
        assertTrue(folder.getFileName().toString().startsWith("llamaspec-" + Loader.getPlatform() + "-"), line);
        for (String file : files) {
            assertTrue(file.startsWith(folder + "/"), file + " in " + line);
        }
        assertTrue(line.contains(folder + "/libllama.so.0") && line.contains(folder + "/backends/libggml-cpu-"), line);
    }

    /** A class-path folder whose platform folder holds this bundle list (ahead of the real one); returns that folder. */
    private static Path bundleList(Path dir, String list) throws Exception {
        Path platform = Files.createDirectories(dir.resolve("dev/llamaspec/native/" + Loader.getPlatform()));
        Files.writeString(platform.resolve(NativeLibrary.BUNDLE), list);
        return platform;
    }

    @Test
    void aBundleListNamingAMissingFileIsAClearError(@TempDir Path dir) throws Exception {
        bundleList(dir, "lib libmissing.so.0\n");
        String line = runWith(List.of(), dir);
        assertTrue(line.startsWith("NATIVE_LIBRARY "), line);
        assertTrue(line.contains("libmissing.so.0") && line.contains("incomplete"), line);
    }

    @Test
    void aDamagedLibraryIsAClearError(@TempDir Path dir) throws Exception {
        Files.writeString(bundleList(dir, "lib libdamaged.so.0\n").resolve("libdamaged.so.0"), "not a shared library");
        String line = runWith(List.of(), dir);
        assertTrue(line.startsWith("NATIVE_LIBRARY "), line);
        assertTrue(line.contains("/libdamaged.so.0") && line.contains("damaged"), line);
    }

    @Test
    void aBundleListWithAStrangeLineIsAClearError(@TempDir Path dir) throws Exception {
        bundleList(dir, "lib ../../etc/passwd\n");
        String line = runWith(List.of(), dir);
        assertTrue(line.startsWith("NATIVE_LIBRARY ") && line.contains("'lib ../../etc/passwd'"), line);
    }

    @Test
    void anUnwritableCacheIsAClearError(@TempDir Path dir) throws Exception {
        // the JNI library in a jar, which JavaCPP extracts into its cache folder: one that cannot be made
        Path jar = dir.resolve("native.jar");
        String name = "dev/llamaspec/native/" + Loader.getPlatform() + "/" + System.mapLibraryName("llamaspec_jni");
        try (java.util.jar.JarOutputStream out = new java.util.jar.JarOutputStream(Files.newOutputStream(jar))) {
            out.putNextEntry(new java.util.jar.JarEntry(name));
            out.write(Files.readAllBytes(TestModels.root().resolve("java-api/target/classes/" + name)));
            out.closeEntry();
        }
        // JavaCPP falls back from its cachedir to the home and temporary folders: none may be usable
        Path notADirectory = Files.writeString(dir.resolve("file"), "x");
        String line = runWith(List.of("-Dorg.bytedeco.javacpp.cachedir=" + notADirectory.resolve("cache"),
                "-Duser.home=" + notADirectory.resolve("home"), "-Djava.io.tmpdir=" + notADirectory.resolve("tmp")), jar);
        assertTrue(line.startsWith("NATIVE_LIBRARY "), line);
        assertTrue(line.contains("cache") && line.contains("-Dorg.bytedeco.javacpp.cachedir"), line);
    }

    @Test
    void aVulkanJarOfAnotherGgmlIsAClearError(@TempDir Path dir) throws Exception {
        Path vulkan = Files.createDirectories(dir.resolve("dev/llamaspec/native/" + Loader.getPlatform() + "/"
                + NativeLibrary.VULKAN));
        Files.writeString(vulkan.resolve(NativeLibrary.BUNDLE), "ggml 0.0.1\nbackend libggml-vulkan.so\n");
        String line = runWith(List.of(), dir);
        assertTrue(line.startsWith("NATIVE_LIBRARY ") && line.contains("Vulkan jar") && line.contains("ggml 0.0.1"), line);
        String carried = Files.readAllLines(platformDir().resolve(NativeLibrary.BUNDLE)).stream()
                .filter(l -> l.startsWith("ggml ")).findFirst().orElseThrow();
        assertTrue(line.contains("carries " + carried), line);
    }

    @Test
    void theVulkanJarRunsTheModelOnAVulkanDeviceWithTheSameOutput() throws Exception {
        Path classes = TestModels.root().resolve("java-api/target/vulkan-classes");
        Assumptions.assumeTrue(Files.isDirectory(classes.resolve("dev/llamaspec/native/" + Loader.getPlatform() + "/vulkan")),
                "built without ggml's Vulkan backend (LLAMASPEC_VULKAN_DIR): no Vulkan jar");
        // Mesa's software Vulkan driver (lavapipe; the build root installs mesa-vulkan-drivers): a
        // Vulkan device on any machine. ggml skips CPU-type devices unless they are named.
        Path lavapipe = Paths.get("/usr/share/vulkan/icd.d/lvp_icd.json");
        Assumptions.assumeTrue(Files.isRegularFile(lavapipe), "no " + lavapipe + " (mesa-vulkan-drivers)");
        java.util.Map<String, String> env = java.util.Map.of("VK_DRIVER_FILES", lavapipe.toString(), "GGML_VK_VISIBLE_DEVICES", "0");
        String cpu = runWith(List.of(), null, env, "backends");
        String vulkan = runWith(List.of(), classes, env, "backends");
        assertTrue(cpu.startsWith("BACKENDS [CPU (1 device)] DEVICES [CPU"), cpu);
        assertTrue(vulkan.startsWith("BACKENDS [CPU (1 device), Vulkan (1 device)] DEVICES [Vulkan0 (llvmpipe"), vulkan);
        assertEquals(cpu.substring(cpu.indexOf(" TEXT ")), vulkan.substring(vulkan.indexOf(" TEXT ")));
        // without a device ggml may use, the backend is loaded and the model runs on the CPU
        String none = runWith(List.of(), classes, java.util.Map.of("VK_DRIVER_FILES", lavapipe.toString()), "backends");
        assertTrue(none.startsWith("BACKENDS [CPU (1 device), Vulkan (0 devices)] DEVICES [CPU"), none);
    }
}
