package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The native-handle helper behind LlamaModel, Session and MedusaHeads: the closed check with each class's
 * message, free once after the running calls, concurrent or serialised calls, and an interrupt (a
 * session's cancel) that never waits for a running call.
 */
class NativeHandleTest extends WithTestModel {
    private static final long H = 42;

    @TempDir
    Path dir;

    private final List<Long> freed = new CopyOnWriteArrayList<>();
    // threads of their own: the common pool may have a single thread on a small machine
    private final ExecutorService threads = Executors.newCachedThreadPool();

    @AfterEach
    void stopThreads() {
        threads.shutdownNow();
    }

    private NativeHandle handle(boolean serialised) {
        return new NativeHandle(H, serialised, "thing is closed", freed::add);
    }

    /** Runs a call on another thread that holds the handle until {@code release} opens. */
    private CompletableFuture<Long> blockingCall(NativeHandle h, CountDownLatch inside, CountDownLatch release) {
        return CompletableFuture.supplyAsync(() -> h.call(handle -> {
            inside.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return handle;
        }), threads);
    }

    @Test
    void callsGetTheHandleUntilItIsFreedOnce() {
        NativeHandle h = handle(false);
        assertEquals(H, (long) h.call(x -> x));
        List<Long> before = new CopyOnWriteArrayList<>();
        h.free(before::add);
        h.free(before::add);
        assertEquals(List.of(H), before);
        assertEquals(List.of(H), freed);
        assertTrue(h.isFreed() && h.isClosing());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> h.call(x -> x));
        assertEquals("thing is closed", e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> h.run("the other thing is closed", x -> { }));
        assertEquals("the other thing is closed", e.getMessage());
        h.ifOpen(x -> { throw new AssertionError("ran on a freed handle"); });
        h.interrupt(x -> { throw new AssertionError("interrupted a freed handle"); });
    }

    @Test
    void concurrentCallsOverlapAndTheFreeWaitsForThem() throws Exception {
        NativeHandle h = handle(false);
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<Long> running = blockingCall(h, inside, release);
        assertTrue(inside.await(10, TimeUnit.SECONDS));
        assertEquals(H, (long) CompletableFuture.supplyAsync(() -> h.call(x -> x), threads)
                .get(10, TimeUnit.SECONDS));
        CompletableFuture<Void> free = CompletableFuture.runAsync(() -> h.free(null), threads);
        assertThrows(TimeoutException.class, () -> free.get(200, TimeUnit.MILLISECONDS));
        assertTrue(freed.isEmpty(), "freed during a call");
        release.countDown();
        assertEquals(H, running.get(10, TimeUnit.SECONDS));
        free.get(10, TimeUnit.SECONDS);
        assertEquals(List.of(H), freed);
    }

    @Test
    void serialisedCallsRunOneAtATimeAndTheInterruptDoesNotWait() throws Exception {
        NativeHandle h = handle(true);
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<Long> running = blockingCall(h, inside, release);
        assertTrue(inside.await(10, TimeUnit.SECONDS));
        CompletableFuture<Long> second = CompletableFuture.supplyAsync(() -> h.call(x -> x), threads);
        assertThrows(TimeoutException.class, () -> second.get(200, TimeUnit.MILLISECONDS));
        // the interrupt reaches the handle while the call runs
        AtomicReference<Long> signalled = new AtomicReference<>();
        CompletableFuture.runAsync(() -> h.interrupt(signalled::set), threads).get(10, TimeUnit.SECONDS);
        assertEquals(H, signalled.get());
        // so does the close: it is marked at once, the free waits for the call
        List<Long> cancelled = new CopyOnWriteArrayList<>();
        assertTrue(CompletableFuture.supplyAsync(() -> h.beginClose(cancelled::add), threads)
                .get(10, TimeUnit.SECONDS));
        assertEquals(List.of(H), cancelled);
        assertTrue(h.isClosing());
        assertFalse(h.beginClose(cancelled::add), "a second close does nothing");
        CompletableFuture<Void> free = CompletableFuture.runAsync(() -> h.free(null), threads);
        release.countDown();
        assertEquals(H, running.get(10, TimeUnit.SECONDS));
        free.get(10, TimeUnit.SECONDS);
        assertEquals(List.of(H), freed);
        assertEquals(List.of(H), cancelled);
        // the call that waited behind the first ran before the free, or failed cleanly after it
        try {
            assertEquals(H, second.get(10, TimeUnit.SECONDS));
        } catch (java.util.concurrent.ExecutionException e) {
            assertTrue(e.getCause() instanceof IllegalStateException, e.toString());
        }
    }

    @Test
    void eachClassKeepsItsMessages() throws IOException {
        LlamaModel closedModel = LlamaModel.load(TestModels.model());
        Session session = closedModel.newSession();
        MedusaHeads heads = MedusaHeads.load(closedModel, TestHeads.identity(closedModel, dir, 2,
                closedModel.fingerprint()));
        heads.close();
        assertTrue(heads.isClosed());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> heads.logits(new float[0], null, 1));
        assertEquals("Medusa heads are closed: " + heads.path(), e.getMessage());
        heads.close();

        session.close();
        assertTrue(session.isClosed());
        assertEquals("session is closed", assertThrows(IllegalStateException.class, session::contextSize).getMessage());
        assertEquals("session is closed", assertThrows(IllegalStateException.class,
                () -> session.generate("Once", TestModels.greedy(2))).getMessage());
        assertDoesNotThrow(session::cancel);

        closedModel.close();
        assertEquals("model is closed: " + closedModel.path(),
                assertThrows(IllegalStateException.class, closedModel::fingerprint).getMessage());
        assertEquals("model is closed: " + closedModel.path(), assertThrows(IllegalStateException.class,
                () -> MedusaHeads.load(closedModel, dir.resolve("none.gguf"))).getMessage());
        assertEquals("model is closed: " + closedModel.path(), assertThrows(IllegalStateException.class,
                () -> model.checkDraftModel(closedModel)).getMessage());
        assertEquals("model is closed: " + closedModel.path(), assertThrows(IllegalStateException.class,
                () -> MedusaTrainer.builder(dir.resolve("c.txt")).build().train(closedModel, dir.resolve("h.gguf")))
                .getMessage());
    }

    @Test
    void closingTheModelDuringAGenerationEndsItCleanly() throws Exception {
        LlamaModel own = LlamaModel.load(TestModels.model());
        Session session = own.newSession();
        AtomicReference<Throwable> outcome = new AtomicReference<>();
        Thread generator = TestModels.streamInBackground(session, outcome);
        own.close();
        TestModels.assertEndsAfterClose(generator, outcome);
        assertTrue(session.isClosed() && own.isClosed());
        // the cancel from close() did not wait for the step; other models go on
        try (Session other = model.newSession()) {
            assertEquals(3, other.generate("Hello", TestModels.greedy(3)).tokens().length);
        }
    }
}
