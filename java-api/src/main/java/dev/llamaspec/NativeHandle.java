package dev.llamaspec;

import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.LongConsumer;

/**
 * The handle of a native object (a model, a session, Medusa heads) with its lock: calls run with the
 * handle under the lock, or throw {@link IllegalStateException} with the owner's message once it is
 * freed; the handle is freed once, after the calls that run.
 *
 * <ul>
 * <li>A <em>concurrent</em> handle ({@link LlamaModel}, {@link MedusaHeads}) lets calls run at the same
 * time (they share a read lock); {@link #free} takes the write lock, so it waits for them.
 * <li>A <em>serialised</em> handle ({@link Session}) runs one call at a time (all take the write lock).
 * </ul>
 *
 * <p>For both, {@link #interrupt} reaches the handle from any thread without waiting for a running call
 * (a session's cancel): it only excludes the free, through a monitor of its own. {@link #beginClose} marks
 * the handle closing and interrupts the running call before {@link #free} waits for it.
 */
final class NativeHandle {
    /** A native call with the handle. */
    interface Call<T> {
        T call(long handle);
    }

    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final Lock callLock;
    private final Object guard = new Object(); // the handle's value for interrupt() against the free
    private final String closedMessage;
    private final LongConsumer free;
    private volatile boolean closing;
    private long handle; // set to 0 under the write lock and the guard; read under either lock or the guard

    /**
     * @param handle        the native handle, not 0
     * @param serialised    whether calls run one at a time (else concurrently)
     * @param closedMessage the message of the {@link IllegalStateException} of a call after the free
     * @param free          frees the native object; called once
     */
    NativeHandle(long handle, boolean serialised, String closedMessage, LongConsumer free) {
        this.handle = handle;
        this.callLock = serialised ? lock.writeLock() : lock.readLock();
        this.closedMessage = closedMessage;
        this.free = free;
    }

    /**
     * The owner {@code make} builds for a native object just created; when building it fails, the object is
     * freed with {@code free} and the failure thrown.
     */
    static <T> T adopt(long handle, java.util.function.LongFunction<T> make, LongConsumer free) {
        try {
            return make.apply(handle);
        } catch (RuntimeException | Error e) {
            free.accept(handle);
            throw e;
        }
    }

    /** Runs {@code call} with the handle under the lock. */
    <T> T call(Call<T> call) {
        return call(closedMessage, call);
    }

    /** The same with another message for a freed handle (e.g. "the draft model is closed: ..."). */
    <T> T call(String closedMessage, Call<T> call) {
        callLock.lock();
        try {
            if (handle == 0) {
                throw new IllegalStateException(closedMessage);
            }
            return call.call(handle);
        } finally {
            callLock.unlock();
        }
    }

    /** {@link #call} without a result. */
    void run(LongConsumer use) {
        call(h -> {
            use.accept(h);
            return null;
        });
    }

    /** {@link #call(String, Call)} without a result. */
    void run(String closedMessage, LongConsumer use) {
        call(closedMessage, h -> {
            use.accept(h);
            return null;
        });
    }

    /** Runs {@code use} with the handle under the lock when it is not freed; nothing otherwise. */
    void ifOpen(LongConsumer use) {
        callLock.lock();
        try {
            if (handle != 0) {
                use.accept(handle);
            }
        } finally {
            callLock.unlock();
        }
    }

    /**
     * Runs {@code signal} with the handle when it is not freed, without waiting for a running call: for
     * native functions that are safe beside a running call (a session's cancel). Waits only for a free
     * in progress.
     */
    void interrupt(LongConsumer signal) {
        synchronized (guard) {
            if (handle != 0) {
                signal.accept(handle);
            }
        }
    }

    /**
     * Marks the handle closing ({@link #isClosing()}) and interrupts a running call with {@code signal};
     * does not wait for it. False when a close began already (nothing is done then).
     */
    boolean beginClose(LongConsumer signal) {
        synchronized (guard) {
            if (closing) {
                return false;
            }
            closing = true;
            if (handle != 0) {
                signal.accept(handle);
            }
            return true;
        }
    }

    /**
     * Frees the handle once: waits for the calls that run, then runs {@code beforeFree} with the handle
     * (under the write lock, so no call starts meanwhile; may be null) and frees it. Idempotent: later
     * calls (and calls during another thread's free, which they wait for) do nothing.
     */
    void free(LongConsumer beforeFree) {
        lock.writeLock().lock();
        try {
            if (handle == 0) {
                return;
            }
            closing = true;
            if (beforeFree != null) {
                beforeFree.accept(handle);
            }
            synchronized (guard) {
                free.accept(handle);
                handle = 0;
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Whether a close began ({@link #beginClose} or {@link #free}); never waits. */
    boolean isClosing() {
        return closing;
    }

    /**
     * Whether the handle is freed. Waits for a free in progress, and for a serialised handle also for a
     * running call.
     */
    boolean isFreed() {
        lock.readLock().lock();
        try {
            return handle == 0;
        } finally {
            lock.readLock().unlock();
        }
    }
}
