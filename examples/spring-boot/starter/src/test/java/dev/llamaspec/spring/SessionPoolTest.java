package dev.llamaspec.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llamaspec.Generation;
import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.Session;
import dev.llamaspec.SessionOptions;
import dev.llamaspec.StopReason;
import dev.llamaspec.TextChunk;
import dev.llamaspec.TokenStream;
import java.time.Duration;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class SessionPoolTest {
    private static final GenerationOptions GREEDY = GenerationOptions.builder().temperature(0).maxTokens(24).build();
    private static LlamaModel model;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModel.path(), ModelOptions.builder().threads(1).build());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static SessionPool pool(int size, Duration timeout) {
        return new SessionPool(model, SessionOptions.defaults(), size, timeout);
    }

    @Test
    void lendsEachSessionToOneBorrowerAndFailsClearlyWhenExhausted() {
        try (SessionPool pool = pool(2, Duration.ofMillis(150))) {
            PooledSession a = pool.borrow();
            PooledSession b = pool.borrow();
            assertThat(a.session()).isNotSameAs(b.session());
            assertThat(pool.available()).isZero();
            assertThat(pool.inUse()).isEqualTo(2);

            long start = System.nanoTime();
            assertThatThrownBy(pool::borrow).isInstanceOf(SessionPoolExhaustedException.class)
                    .hasMessageContaining("all 2 llamaspec sessions are busy")
                    .hasMessageContaining("150 ms")
                    .hasMessageContaining("llamaspec.pool-size");
            assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(150));

            Session first = a.session();
            a.close();
            a.close(); // twice: returned once
            assertThat(pool.available()).isEqualTo(1);
            assertThatThrownBy(a::session).isInstanceOf(IllegalStateException.class);
            try (PooledSession again = pool.borrow()) {
                assertThat(again.session()).isSameAs(first);
                assertThat(again.session().generate("Once upon a time", GREEDY).stopReason())
                        .isEqualTo(StopReason.MAX_TOKENS);
            }
            b.close();
            assertThat(pool.available()).isEqualTo(2);
            assertThat(pool.inUse()).isZero();
        }
    }

    @Test
    void aWaitingBorrowerGetsTheNextReturnedSession() throws Exception {
        try (SessionPool pool = pool(1, Duration.ofSeconds(10))) {
            PooledSession held = pool.borrow();
            Session session = held.session();
            CompletableFuture<Session> waiter = CompletableFuture.supplyAsync(() -> {
                try (PooledSession next = pool.borrow()) {
                    return next.session();
                }
            });
            Thread.sleep(200);
            assertThat(waiter).isNotDone();
            held.close();
            assertThat(waiter.get(5, TimeUnit.SECONDS)).isSameAs(session);
        }
    }

    @Test
    void aSessionReturnedWhileGeneratingIsReplaced() {
        try (SessionPool pool = pool(1, Duration.ofSeconds(5))) {
            PooledSession pooled = pool.borrow();
            Session leaked = pooled.session();
            TokenStream stream = leaked.stream("Once upon a time", GREEDY);
            Iterator<TextChunk> chunks = stream.iterator();
            assertThat(chunks.hasNext()).isTrue();
            chunks.next();
            pooled.close(); // the stream is left open

            assertThat(leaked.isClosed()).isTrue();
            assertThat(pool.available()).isEqualTo(1);
            try (PooledSession next = pool.borrow()) {
                assertThat(next.session()).isNotSameAs(leaked);
                Generation g = next.session().generate("Once upon a time", GREEDY);
                assertThat(g.stopReason()).isEqualTo(StopReason.MAX_TOKENS);
            }
        }
    }

    @Test
    void aLateCancelDoesNotReachTheNextBorrower() {
        try (SessionPool pool = pool(1, Duration.ofSeconds(5))) {
            PooledSession first = pool.borrow();
            first.close();
            try (PooledSession second = pool.borrow();
                 TokenStream stream = second.session().stream("Once upon a time", GREEDY)) {
                Iterator<TextChunk> chunks = stream.iterator();
                chunks.next();
                first.cancel(); // the same session, now someone else's
                chunks.forEachRemaining(chunk -> { });
                assertThat(stream.result().stopReason()).isEqualTo(StopReason.MAX_TOKENS);
                assertThat(stream.result().tokens()).hasSize(24);
            }
        }
    }

    @Test
    void cancelEndsTheBorrowersGeneration() {
        try (SessionPool pool = pool(1, Duration.ofSeconds(5));
             PooledSession pooled = pool.borrow();
             TokenStream stream = pooled.session().stream("Once upon a time", GREEDY)) {
            Iterator<TextChunk> chunks = stream.iterator();
            chunks.next();
            pooled.cancel();
            chunks.forEachRemaining(chunk -> { });
            assertThat(stream.result().stopReason()).isEqualTo(StopReason.CANCELLED);
        }
    }

    @Test
    void aClosedPoolLendsNothingAndClosesReturnedSessions() {
        SessionPool pool = pool(2, Duration.ofSeconds(1));
        PooledSession lent = pool.borrow();
        Session session = lent.session();
        pool.close();
        pool.close();
        assertThatThrownBy(pool::borrow).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        assertThat(session.isClosed()).isFalse();
        lent.close();
        assertThat(session.isClosed()).isTrue();
        assertThat(pool.available()).isZero();
    }

    @Test
    void rejectsABadSize() {
        assertThatThrownBy(() -> pool(0, Duration.ofSeconds(1))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at least 1");
    }
}
