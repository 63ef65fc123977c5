package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * Threads: a number given is used as given; automatic threads (none given) are divided among the
 * sessions generating at once and reported while a generation runs.
 */
class ThreadsTest extends WithTestModel {

    /** The most threads automatic sessions use: the cores, at most 8. */
    static int automaticMax() {
        return Math.max(1, Math.min(8, Runtime.getRuntime().availableProcessors()));
    }

    @Test
    void aGivenNumberIsUsedAsGiven() {
        try (Session session = model.newSession(SessionOptions.builder().threads(1).build())) {
            Generation g = session.generate("Once upon a time", TestModels.greedy(32));
            assertEquals(1, g.stats().threads(), g.stats().toString());
            assertEquals(1, session.threads());
        }
    }

    @Test
    void automaticThreadsAreSharedAmongSessionsGeneratingAtOnce() throws Exception {
        int max = automaticMax();
        int shared = Math.max(1, max / 2);
        try (Session a = model.newSession(); Session b = model.newSession()) {
            AtomicBoolean stop = new AtomicBoolean();
            ExecutorService pool = Executors.newFixedThreadPool(2); // a thread each, whatever the cores
            List<Future<?>> runs = new ArrayList<>();
            for (Session s : List.of(a, b)) {
                runs.add(pool.submit(() -> {
                    while (!stop.get()) {
                        s.generate("Once upon a time", TestModels.greedy(200));
                    }
                }));
            }
            pool.shutdown();
            boolean sawBoth = false;
            int sawThreads = 0;
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!sawBoth && System.nanoTime() < end) {
                if (Session.decodingNow() >= 2) {
                    int ta = a.threads(), tb = b.threads();
                    // a session reads the count at its next evaluation: look again if one has not yet
                    if (ta <= shared && tb <= shared && Session.decodingNow() >= 2) {
                        sawBoth = true;
                        sawThreads = Math.max(ta, tb);
                    }
                }
                Thread.sleep(1);
            }
            stop.set(true);
            for (Future<?> run : runs) {
                run.get(60, TimeUnit.SECONDS);
            }
            assertTrue(sawBoth, "two sessions generating at once never ran on " + shared + " threads each or fewer");
            assertTrue(sawThreads >= 1 && sawThreads <= shared, "threads " + sawThreads);
        }
        // alone again, a session gets the whole default back (unless the machine is busy meanwhile)
        try (Session alone = model.newSession()) {
            GenerationStats s = alone.generate("Once upon a time", TestModels.greedy(64)).stats();
            assertTrue(s.threads() >= 1 && s.threads() <= max, s.toString());
        }
    }

    @Test
    void threadsOfAClosedSessionIsAnIllegalState() {
        Session session = model.newSession();
        assertTrue(session.threads() >= 1);
        session.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, session::threads);
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }
}
