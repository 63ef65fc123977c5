package dev.llamaspec.spring;

import dev.llamaspec.LlamaModel;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;

/**
 * A fixed number of {@link Session}s of one model, lent to one borrower at a time, so that concurrent
 * requests each generate in their own session. All sessions are created up front, so a context that
 * does not fit in memory fails at startup rather than under load.
 *
 * <pre>{@code
 * try (PooledSession pooled = pool.borrow()) {
 *     Generation g = pooled.session().generate(prompt, options);
 * }
 * }</pre>
 *
 * <p>{@link #borrow()} waits up to the borrow timeout for a free session and then throws
 * {@link SessionPoolExhaustedException}. A session keeps its KV cache when it returns, so a later prompt
 * that starts like an earlier one reuses that prefix. A session returned while still generating (a
 * stream left open) or closed by its borrower is closed and replaced by a new one.
 */
public final class SessionPool implements AutoCloseable {
    private static final Log log = LogFactory.getLog(SessionPool.class);

    private final LlamaModel model;
    private final SessionOptions sessionOptions;
    private final Duration borrowTimeout;
    private final LinkedBlockingDeque<Session> idle = new LinkedBlockingDeque<>();
    private final Set<Session> all = ConcurrentHashMap.newKeySet(); // lent or not, for health
    private final AtomicInteger capacity;
    private final AtomicInteger borrowed = new AtomicInteger();
    private final int contextSize;
    private volatile boolean closed;

    /**
     * Creates {@code size} sessions of the model.
     *
     * @throws IllegalArgumentException when size is below 1 or the timeout is negative
     * @throws dev.llamaspec.LlamaException when a session cannot be created (its context does not fit)
     */
    public SessionPool(LlamaModel model, SessionOptions sessionOptions, int size, Duration borrowTimeout) {
        this.model = Objects.requireNonNull(model, "model");
        this.sessionOptions = Objects.requireNonNull(sessionOptions, "sessionOptions");
        this.borrowTimeout = Objects.requireNonNull(borrowTimeout, "borrowTimeout");
        if (size < 1) {
            throw new IllegalArgumentException("pool size must be at least 1, got " + size);
        }
        if (borrowTimeout.isNegative()) {
            throw new IllegalArgumentException("borrow timeout must not be negative, got " + borrowTimeout);
        }
        List<Session> sessions = new ArrayList<>(size);
        try {
            for (int i = 0; i < size; i++) {
                sessions.add(model.newSession(sessionOptions));
            }
        } catch (RuntimeException e) {
            sessions.forEach(Session::close);
            throw e;
        }
        this.contextSize = sessions.get(0).contextSize();
        this.capacity = new AtomicInteger(size);
        all.addAll(sessions);
        idle.addAll(sessions);
    }

    /** Borrows a session, waiting up to the pool's borrow timeout. */
    public PooledSession borrow() {
        return borrow(borrowTimeout);
    }

    /**
     * Borrows a session, waiting up to {@code timeout} for one to be returned. Close the result to
     * return the session.
     *
     * @throws SessionPoolExhaustedException when no session became free in time
     * @throws IllegalStateException when the pool is closed, or the thread was interrupted while waiting
     */
    public PooledSession borrow(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        ensureOpen();
        Session session;
        try {
            session = idle.pollFirst(Math.max(0, timeout.toNanos()), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a free llamaspec session", e);
        }
        if (session == null) {
            ensureOpen();
            throw new SessionPoolExhaustedException(capacity.get(), timeout);
        }
        borrowed.incrementAndGet();
        if (closed) {
            giveBack(session);
            ensureOpen();
        }
        return new PooledSession(this, session);
    }

    void giveBack(Session session) {
        borrowed.decrementAndGet();
        if (closed) {
            all.remove(session);
            session.close();
            return;
        }
        Session usable = session;
        if (session.isClosed() || session.isGenerating()) {
            all.remove(session);
            session.close(); // ends a generation left running
            try {
                usable = model.newSession(sessionOptions);
                all.add(usable);
            } catch (RuntimeException e) {
                capacity.decrementAndGet();
                log.error("a llamaspec session came back unusable and no new one could be created; the pool now has "
                        + capacity.get() + " sessions", e);
                return;
            }
        }
        idle.offerFirst(usable); // last in, first out: the warmest KV cache is used next
        if (closed && idle.remove(usable)) {
            all.remove(usable);
            usable.close(); // closed while we were returning it
        }
    }

    /** Sessions in the pool, lent or not. */
    public int size() {
        return capacity.get();
    }

    /** Sessions free to borrow now. */
    public int available() {
        return idle.size();
    }

    /** Sessions lent out now. */
    public int inUse() {
        return borrowed.get();
    }

    /**
     * The threads each open session of the pool ran its last step on (see
     * {@link dev.llamaspec.SessionOptions#threads()}: automatic threads change with the load).
     */
    public List<Integer> threads() {
        List<Integer> threads = new ArrayList<>();
        for (Session s : all) {
            try {
                threads.add(s.threads());
            } catch (IllegalStateException closedMeanwhile) {
                // not a session of the pool any more
            }
        }
        return threads;
    }

    /** The context size of the pooled sessions, in tokens. */
    public int contextSize() {
        return contextSize;
    }

    /** How long {@link #borrow()} waits. */
    public Duration borrowTimeout() {
        return borrowTimeout;
    }

    public LlamaModel model() {
        return model;
    }

    public boolean isClosed() {
        return closed;
    }

    /** Closes the free sessions now and each lent one when it is returned. Idempotent. */
    @Override
    public void close() {
        closed = true;
        Session session;
        while ((session = idle.poll()) != null) {
            all.remove(session);
            session.close();
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("the llamaspec session pool is closed");
        }
    }

    @Override
    public String toString() {
        return "SessionPool{size=" + size() + ", available=" + available() + (closed ? ", closed" : "") + "}";
    }
}
