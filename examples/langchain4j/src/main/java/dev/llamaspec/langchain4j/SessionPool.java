package dev.llamaspec.langchain4j;

import dev.llamaspec.LlamaModel;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.Semaphore;

/**
 * The sessions of one model that an adapter's requests run in, one request per session at a time. At
 * most {@code max} exist: the first is made up front (so that a context that does not fit fails when the
 * adapter is built), the others when concurrent requests need them. A returned session keeps its KV
 * cache and is the next one lent (last in, first out), so a conversation that goes on, resent whole by
 * LangChain4j each turn, costs only its new tokens. A request finding every session lent waits for one.
 */
final class SessionPool implements AutoCloseable {
    private final LlamaModel model;
    private final SessionOptions options;
    private final Semaphore free;
    private final Deque<Session> idle = new ArrayDeque<>(); // guarded by this
    private boolean closed; // guarded by this

    /**
     * @throws dev.llamaspec.LlamaException when the first session cannot be created (its context does not fit)
     */
    SessionPool(LlamaModel model, SessionOptions options, int max) {
        this.model = model;
        this.options = options;
        this.free = new Semaphore(max, true);
        idle.push(model.newSession(options));
    }

    /**
     * A session for one request, waiting while all are lent; give it back with {@link #giveBack}.
     *
     * @throws IllegalStateException when the pool is closed or the thread is interrupted while waiting
     */
    Session borrow() {
        try {
            free.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a free llamaspec session", e);
        }
        Session session;
        synchronized (this) {
            if (closed) {
                free.release();
                throw new IllegalStateException("the model's sessions are closed");
            }
            session = idle.pollFirst();
        }
        if (session != null) {
            return session;
        }
        try {
            return model.newSession(options);
        } catch (RuntimeException | Error e) {
            free.release();
            throw e;
        }
    }

    /** Takes a session back; one that is closed, still generating, or returned after {@link #close()} is closed. */
    void giveBack(Session session) {
        boolean kept;
        synchronized (this) {
            kept = !closed && !session.isClosed() && !session.isGenerating();
            if (kept) {
                idle.offerFirst(session);
            }
        }
        if (!kept) {
            session.close();
        }
        free.release();
    }

    /** Closes the idle sessions now, and each lent one when it comes back. Idempotent. */
    @Override
    public void close() {
        List<Session> sessions;
        synchronized (this) {
            closed = true;
            sessions = new ArrayList<>(idle);
            idle.clear();
        }
        sessions.forEach(Session::close);
    }
}
