package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Corpus indexes through the Java API: built from a text, loaded for the model; prompt lookup drafting
 * from one gives plain greedy decoding's text and really drafts from the corpus; bad files and misuse
 * are refused with their reason.
 */
class CorpusIndexTest {
    private static SessionOptions strict() {
        return SessionOptions.builder().contextSize(512).threads(1).strictNumerics(true).build();
    }

    @Test
    void lookupDraftsFromTheCorpusAndKeepsPlainGreedyOutput(@TempDir Path dir) throws Exception {
        try (LlamaModel model = LlamaModel.load(TestModels.model(), ModelOptions.builder().threads(1).build())) {
            // a corpus holding what the model itself writes after the prompts (so drafts from it are right),
            // and the shared stories
            StringBuilder text = new StringBuilder(Files.readString(
                    TestModels.root().resolve("../shared/corpus/tinystories_train_sample.txt").normalize()));
            String[] prompts = {"Once upon a time, there was a little fox", "Tim and Sue went to the beach"};
            String[] plain = new String[prompts.length];
            for (int i = 0; i < prompts.length; i++) {
                try (Session s = model.newSession(strict())) {
                    plain[i] = s.generate(prompts[i], TestModels.greedy(64)).text();
                }
                text.append('\n').append(prompts[i]).append(plain[i]).append('\n');
            }
            Path corpus = Files.writeString(dir.resolve("corpus.txt"), text);
            CorpusIndex.Built built = CorpusIndex.build(model, corpus, dir.resolve("corpus.lsidx"));
            assertTrue(built.tokens() > 100_000, built.toString());
            assertEquals(Files.size(dir.resolve("corpus.lsidx")), built.fileBytes());
            try (CorpusIndex index = CorpusIndex.load(built.index(), model)) {
                assertEquals(built.tokens(), index.tokens());
                // n-grams up to 12 tokens: the planted continuation is the one long match; every proposal
                // is evaluated (no budget), so that the count of accepted drafts shows what the corpus gave
                Speculation withCorpus = Speculation.promptLookup(2, 12, 4).corpus(index).withBudget(false);
                assertTrue(withCorpus.toString().contains(".corpus(" + built.index()), withCorpus.toString());
                assertNotEquals(Speculation.promptLookup(2, 12, 4).withBudget(false), withCorpus);
                assertEquals(Speculation.promptLookup(2, 12, 4).corpus(index).withBudget(false), withCorpus);
                for (int i = 0; i < prompts.length; i++) {
                    try (Session s = model.newSession(strict())) {
                        Generation g = s.generate(prompts[i],
                                TestModels.greedy(64).toBuilder().speculation(withCorpus).build());
                        assertEquals(plain[i], g.text(), prompts[i]);
                        // the continuation is in the corpus: most tokens come from accepted drafts
                        assertTrue(g.stats().acceptedTokens() > 20, g.stats().toString());
                    }
                    try (Session s = model.newSession(strict())) {
                        Generation without = s.generate(prompts[i], TestModels.greedy(64).toBuilder()
                                .speculation(Speculation.promptLookup(2, 12, 4).withBudget(false)).build());
                        assertEquals(plain[i], without.text());
                        // the prompt alone offers far less
                        assertTrue(without.stats().acceptedTokens() < 20, without.stats().toString());
                    }
                }
                // closing the index while a generation runs leaves the generation alone
                try (Session s = model.newSession(strict());
                        TokenStream stream = s.stream(prompts[0],
                                TestModels.greedy(64).toBuilder().speculation(withCorpus).build())) {
                    StringBuilder out = new StringBuilder();
                    int chunks = 0;
                    for (TextChunk chunk : stream) {
                        out.append(chunk.text());
                        if (++chunks == 2) {
                            index.close();
                        }
                    }
                    assertEquals(plain[0], out.toString());
                }
                assertTrue(index.isClosed());
                try (Session s = model.newSession(strict())) {
                    IllegalStateException e = assertThrows(IllegalStateException.class, () -> s.generate(prompts[0],
                            TestModels.greedy(8).toBuilder().speculation(withCorpus).build()));
                    assertTrue(e.getMessage().contains("corpus index is closed"), e.getMessage());
                }
            }
        }
    }

    @Test
    void badFilesAndMisuseAreRefused(@TempDir Path dir) throws Exception {
        try (LlamaModel model = LlamaModel.load(TestModels.model(), ModelOptions.builder().threads(1).build());
                LlamaModel other = LlamaModel.load(TestModels.model(), ModelOptions.builder().threads(1).build())) {
            Path text = Files.writeString(dir.resolve("t.txt"), "Tom had a red ball. Tom liked the ball.\n");
            Path good = CorpusIndex.build(model, text, dir.resolve("good.lsidx")).index();
            byte[] bytes = Files.readAllBytes(good);

            LlamaException missing = assertThrows(LlamaException.class,
                    () -> CorpusIndex.load(dir.resolve("missing.lsidx"), model));
            assertEquals(ErrorCode.INVALID_ARGUMENT, missing.code());
            assertTrue(missing.getMessage().contains("missing.lsidx"), missing.getMessage());
            assertRefused(Files.writeString(dir.resolve("text.lsidx"), "not an index at all, just some text"), model,
                    "is not a llamaspec corpus index");
            assertRefused(Files.write(dir.resolve("short.lsidx"), Arrays.copyOf(bytes, bytes.length - 9)), model,
                    "is truncated or damaged");
            byte[] damaged = bytes.clone();
            damaged[45] ^= 0x33;
            assertRefused(Files.write(dir.resolve("damaged.lsidx"), damaged), model, "checksum does not match");
            LlamaException noText = assertThrows(LlamaException.class,
                    () -> CorpusIndex.build(model, dir.resolve("none.txt"), dir.resolve("x.lsidx")));
            assertTrue(noText.getMessage().contains("none.txt"), noText.getMessage());

            // an index loaded for one model is refused by a session of another (same file, other object)
            try (CorpusIndex index = CorpusIndex.load(good, model); Session s = other.newSession(strict())) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.generate("Tom",
                        TestModels.greedy(4).toBuilder().speculation(Speculation.promptLookup().corpus(index)).build()));
                assertTrue(e.getMessage().contains("another model"), e.getMessage());
            }
            CorpusIndex closed = CorpusIndex.load(good, model);
            closed.close();
            closed.close();
            assertTrue(closed.toString().contains("closed"));
        }
    }

    private static void assertRefused(Path file, LlamaModel model, String why) {
        LlamaException e = assertThrows(LlamaException.class, () -> CorpusIndex.load(file, model));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains(why) && e.getMessage().contains(file.getFileName().toString()),
                e.getMessage());
    }
}
