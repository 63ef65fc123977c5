package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Models split over two {@code ggml-rpc-server} processes on 127.0.0.1, through the Java API: the same
 * greedy text as a local model for plain decoding and the speculation strategies, a server killed
 * mid-stream ends the stream with a LlamaException naming it within the timeout while a local model goes
 * on, and bad addresses are refused. The servers are killed after each test however it ends.
 */
class RpcTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(2);

    private final List<TestRpcServer> servers = new ArrayList<>();

    @AfterEach
    void killServers() throws InterruptedException {
        for (TestRpcServer server : servers) {
            server.close();
        }
    }

    /** Starts a server (killed after the test) and returns its "127.0.0.1:port". */
    private String startServer() throws Exception {
        TestRpcServer server = TestRpcServer.start();
        servers.add(server);
        return server.endpoint();
    }

    private static ModelOptions remote(String... servers) {
        return ModelOptions.builder().threads(1).rpcServers(List.of(servers)).rpcTimeout(TIMEOUT).build();
    }

    private static SessionOptions strict() {
        return SessionOptions.builder().contextSize(512).threads(1).strictNumerics(true).build();
    }

    @Test
    void greedyTextOverRpcIsTheLocalText() throws Exception {
        String a = startServer();
        String b = startServer();
        try (LlamaModel local = LlamaModel.load(TestModels.model(), ModelOptions.builder().threads(1).build());
                LlamaModel split = LlamaModel.load(TestModels.model(), remote(a, b))) {
            assertEquals(List.of(a, b), split.rpcServers());
            String devices = String.join(" + ", split.info().devices());
            assertTrue(devices.contains("RPC server " + a) && devices.contains("RPC server " + b), devices);
            assertTrue(split.failure().isEmpty());
            for (String prompt : TestModels.storyOpenings(3)) {
                String want;
                try (Session s = local.newSession(strict())) {
                    want = s.generate(prompt, TestModels.greedy(48)).text();
                }
                for (Speculation speculation : List.of(Speculation.parse("none"), Speculation.parse("lookup"),
                        Speculation.parse("recycling"), Speculation.parse("auto"), Speculation.draftModel(local))) {
                    try (Session s = split.newSession(strict())) {
                        GenerationOptions options = TestModels.greedy(48).toBuilder().speculation(speculation).build();
                        assertEquals(want, s.generate(prompt, options).text(), speculation + " on " + prompt);
                    }
                }
            }
            // seeded sampling repeats over RPC
            GenerationOptions sampled = GenerationOptions.builder().temperature(0.8f).seed(7).maxTokens(40).build();
            String first;
            try (Session s = split.newSession(strict())) {
                first = s.generate("Once upon a time", sampled).text();
            }
            try (Session s = split.newSession(strict())) {
                assertEquals(first, s.generate("Once upon a time", sampled).text());
            }
        }
    }

    @Test
    void aServerKilledMidStreamEndsItWithTheServersAddress() throws Exception {
        String a = startServer();
        String b = startServer();
        Process second = servers.get(1).process();
        try (LlamaModel local = LlamaModel.load(TestModels.model(), ModelOptions.builder().threads(1).build());
                LlamaModel split = LlamaModel.load(TestModels.model(), remote(a, b))) {
            Session session = split.newSession(strict());
            long[] killedAt = new long[1];
            LlamaException e = assertThrows(LlamaException.class, () -> {
                try (TokenStream stream = session.stream("Once upon a time", TestModels.greedy(100_000))) {
                    int chunks = 0;
                    for (TextChunk ignored : stream) {
                        if (++chunks == 5) {
                            second.destroyForcibly();
                            killedAt[0] = System.nanoTime();
                        }
                    }
                }
            });
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt[0]);
            assertEquals(ErrorCode.RPC, e.code(), e.getMessage());
            assertTrue(e.getMessage().contains(b), e.getMessage());
            assertTrue(ms < TIMEOUT.toMillis() + 1500, "the stream ended " + ms + " ms after the kill");
            // the model says so, and refuses at once
            assertTrue(split.failure().orElse("").contains(b), split.failure().toString());
            LlamaException again = assertThrows(LlamaException.class, () -> split.newSession(strict()).generate("Hi",
                    TestModels.greedy(4)));
            assertEquals(ErrorCode.RPC, again.code());
            // a local model goes on
            try (Session s = local.newSession(strict())) {
                assertFalse(s.generate("Once upon a time", TestModels.greedy(16)).text().isEmpty());
            }
            session.close();
        }
    }

    @Test
    void badAddressesAreRefused() throws Exception {
        for (String bad : List.of("localhost", "127.0.0.1:", ":50052", "127.0.0.1:0", "127.0.0.1:65536",
                "127.0.0.1:port", "host name:1", "[::1]:50052")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ModelOptions.builder().rpcServers(List.of(bad)).build(), bad);
            assertTrue(e.getMessage().contains(bad) && e.getMessage().startsWith("rpcServers"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class,
                () -> ModelOptions.builder().rpcServers(List.of("127.0.0.1:1", "127.0.0.1:1")).build());
        assertThrows(IllegalArgumentException.class, () -> ModelOptions.builder().rpcTimeout(Duration.ofMillis(10)).build());
        String nothing = "127.0.0.1:" + TestRpcServer.freePort();
        LlamaException e = assertThrows(LlamaException.class, () -> LlamaModel.load(TestModels.model(), remote(nothing)));
        assertEquals(ErrorCode.RPC, e.code());
        assertTrue(e.getMessage().contains(nothing), e.getMessage());
        // a listener that answers, but not in ggml's RPC protocol
        try (ServerSocket listener = new ServerSocket(0, 4, InetAddress.getLoopbackAddress())) {
            Thread answer = new Thread(() -> {
                try (Socket c = listener.accept()) {
                    c.getOutputStream().write("HTTP/1.1 400 Bad Request\r\n\r\n0123456789abcdef0123456789".getBytes());
                    c.getOutputStream().flush();
                    Thread.sleep(100);
                } catch (Exception ignored) {
                    // the test's assertions tell
                }
            });
            answer.setDaemon(true);
            answer.start();
            String garbage = "127.0.0.1:" + listener.getLocalPort();
            LlamaException g = assertThrows(LlamaException.class, () -> LlamaModel.load(TestModels.model(), remote(garbage)));
            assertEquals(ErrorCode.RPC, g.code());
            assertTrue(g.getMessage().contains(garbage), g.getMessage());
        }
    }
}
