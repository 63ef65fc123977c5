package dev.llamaspec.spring;

import dev.llamaspec.Session;

/**
 * A session lent by a {@link SessionPool}. Close it (try-with-resources) to return the session;
 * closing twice does nothing.
 */
public final class PooledSession implements AutoCloseable {
    private final SessionPool pool;
    private final Session session;
    private boolean returned;

    PooledSession(SessionPool pool, Session session) {
        this.pool = pool;
        this.session = session;
    }

    /**
     * The borrowed session.
     *
     * @throws IllegalStateException after {@link #close()}
     */
    public synchronized Session session() {
        if (returned) {
            throw new IllegalStateException("this session was returned to the pool");
        }
        return session;
    }

    /**
     * Cancels the running generation while this borrower still holds the session; after the session
     * went back to the pool it does nothing, so a late cancel never reaches the next borrower. Safe
     * from any thread.
     */
    public synchronized void cancel() {
        if (!returned) {
            session.cancel();
        }
    }

    /** Returns the session to the pool. */
    @Override
    public void close() {
        synchronized (this) {
            if (returned) {
                return;
            }
            returned = true;
        }
        pool.giveBack(session);
    }
}
