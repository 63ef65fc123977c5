package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** One model, eight sessions on eight threads at once: the same outputs as one at a time. */
class ConcurrencyTest extends WithTestModel {

    @Test
    void sessionsOfOneModelGenerateConcurrently() throws Exception {
        List<String> prompts = TestModels.storyOpenings(8);
        List<Speculation> speculations = List.of(Speculation.none(), Speculation.auto().withBudget(false));
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            try (Session session = model.newSession(SessionOptions.builder().threads(1).build())) {
                expected.add(session.generate(prompts.get(i), options(speculations.get(i % 2))).text());
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                final int index = i;
                results.add(pool.submit(() -> {
                    try (Session session = model.newSession(SessionOptions.builder().threads(1).build())) {
                        return session.generate(prompts.get(index), options(speculations.get(index % 2))).text();
                    }
                }));
            }
            for (int i = 0; i < prompts.size(); i++) {
                assertEquals(expected.get(i), results.get(i).get(120, TimeUnit.SECONDS), "prompt " + i);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static GenerationOptions options(Speculation speculation) {
        return TestModels.greedy(64).toBuilder().speculation(speculation).build();
    }
}
