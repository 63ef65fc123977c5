package dev.llamaspec.spring;

import java.time.Duration;

/** Every session of the pool stayed busy for the whole borrow timeout. */
public class SessionPoolExhaustedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public SessionPoolExhaustedException(int poolSize, Duration waited) {
        super("all " + poolSize + " llamaspec sessions are busy; no session became free within " + waited.toMillis()
                + " ms (raise llamaspec.pool-size or llamaspec.borrow-timeout)");
    }
}
