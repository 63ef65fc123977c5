package dev.llamaspec;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A {@code ggml-rpc-server} process on 127.0.0.1 for the tests of models split over RPC servers (this
 * module's and, through the test jar, the chat's and the starter's); killed by {@link #close()}.
 */
public final class TestRpcServer implements AutoCloseable {
    /** Debian's ggml-rpc-server (package llama.cpp-tools-extra), or -Dllamaspec.rpcServer=PATH. */
    public static final Path SERVER = Path.of(System.getProperty("llamaspec.rpcServer",
            "/usr/libexec/x86_64-linux-gnu/llama/bin/ggml-rpc-server"));

    private final Process process;
    private final int port;

    private TestRpcServer(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    /** A TCP port on 127.0.0.1 that nothing listens on (bound, read, released). */
    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Starts a server on a free port with one thread and returns once it accepts connections. */
    public static TestRpcServer start() throws IOException, InterruptedException {
        return start(freePort());
    }

    /** The same on {@code port}. */
    public static TestRpcServer start(int port) throws IOException, InterruptedException {
        if (!Files.isExecutable(SERVER)) {
            throw new AssertionError("ggml-rpc-server not found at " + SERVER
                    + " (Debian's llama.cpp-tools-extra, which the build root installs)");
        }
        Process p = new ProcessBuilder(SERVER.toString(), "-H", "127.0.0.1", "-p", Integer.toString(port), "-t", "1")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                return new TestRpcServer(p, port);
            } catch (IOException notYet) {
                Thread.sleep(25);
            }
        }
        p.destroyForcibly();
        throw new AssertionError("ggml-rpc-server did not listen on port " + port);
    }

    /** "127.0.0.1:port". */
    public String endpoint() {
        return "127.0.0.1:" + port;
    }

    public Process process() {
        return process;
    }

    /** Kills the server (at once: SIGKILL) and waits for it to end. */
    @Override
    public void close() throws InterruptedException {
        process.destroyForcibly().waitFor();
    }
}
