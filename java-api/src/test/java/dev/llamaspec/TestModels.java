package dev.llamaspec;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Assertions;

/** Where the tests find their model and prompts: LLAMASPEC_TEST_MODEL, else ../shared beside the checkout. */
final class TestModels {
    private TestModels() {}

    static Path root() {
        String root = System.getProperty("llamaspec.root");
        return root != null ? Paths.get(root) : Paths.get("..").toAbsolutePath().normalize();
    }

    static Path model() {
        String env = System.getenv("LLAMASPEC_TEST_MODEL");
        Path path = env != null && !env.isEmpty() ? Paths.get(env)
                : root().resolve("../shared/models/stories260K.gguf").normalize();
        if (!Files.isRegularFile(path)) {
            throw new IllegalStateException("test model not found: " + path
                    + " (set LLAMASPEC_TEST_MODEL or put the shared folder beside the checkout)");
        }
        return path;
    }

    /** The first sentence of each of the first n stories of the shared TinyStories sample. */
    static List<String> storyOpenings(int n) {
        Path corpus = root().resolve("../shared/corpus/tinystories_train_sample.txt").normalize();
        String text;
        try {
            text = Files.readString(corpus, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the prompt corpus " + corpus, e);
        }
        List<String> openings = new ArrayList<>();
        for (String story : text.split("<\\|endoftext\\|>")) {
            String s = story.strip();
            int end = s.indexOf(". ");
            if (s.isEmpty() || end < 0) {
                continue;
            }
            openings.add(s.substring(0, end + 1));
            if (openings.size() == n) {
                break;
            }
        }
        return openings;
    }

    static GenerationOptions greedy(int maxTokens) {
        return GenerationOptions.builder().temperature(0).maxTokens(maxTokens).build();
    }

    /**
     * Starts a thread that streams a long generation from {@code session}, and returns it once the
     * first chunk arrived (failing the test if none did within 30 s); what the stream throws goes to
     * {@code outcome}.
     */
    static Thread streamInBackground(Session session, AtomicReference<Throwable> outcome) throws InterruptedException {
        CountDownLatch started = new CountDownLatch(1);
        Thread generator = new Thread(() -> {
            try (TokenStream stream = session.stream("Once upon a time", greedy(100_000))) {
                for (TextChunk ignored : stream) {
                    started.countDown();
                }
            } catch (Throwable t) {
                outcome.set(t);
            }
        });
        generator.start();
        Assertions.assertTrue(started.await(30, TimeUnit.SECONDS));
        return generator;
    }

    /**
     * Waits for a generator of {@link #streamInBackground} whose session or model was closed: it must
     * end within 30 s, by cancellation or with an IllegalStateException.
     */
    static void assertEndsAfterClose(Thread generator, AtomicReference<Throwable> outcome) throws InterruptedException {
        generator.join(30_000);
        Assertions.assertFalse(generator.isAlive());
        if (outcome.get() != null) {
            Assertions.assertTrue(outcome.get() instanceof IllegalStateException, outcome.get().toString());
        }
    }

    /**
     * Writes a copy of the test model to {@code out} in which token {@code token}'s text is replaced by
     * a new text of the same length (so no offset in the file moves): a model with another vocabulary.
     */
    static void writeWithRenamedToken(Path out, int token) throws IOException {
        byte[] bytes = Files.readAllBytes(model());
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        b.position(8); // magic, version
        b.getLong(); // tensors
        long kvs = b.getLong();
        for (long i = 0; i < kvs; i++) {
            String key = ggufString(b);
            int type = b.getInt();
            if (key.equals("tokenizer.ggml.tokens")) {
                b.getInt(); // element type: string
                long n = b.getLong();
                int[] offsets = new int[(int) n];
                int[] lengths = new int[(int) n];
                Set<String> texts = new HashSet<>();
                for (int t = 0; t < n; t++) {
                    lengths[t] = (int) b.getLong();
                    offsets[t] = b.position();
                    texts.add(new String(bytes, offsets[t], lengths[t], StandardCharsets.UTF_8));
                    b.position(offsets[t] + lengths[t]);
                }
                for (char c = 'A'; c <= 'Z'; c++) {
                    String text = String.valueOf(c).repeat(lengths[token]);
                    if (!texts.contains(text)) {
                        System.arraycopy(text.getBytes(StandardCharsets.US_ASCII), 0, bytes, offsets[token], text.length());
                        Files.write(out, bytes);
                        return;
                    }
                }
                throw new IllegalStateException("no new text for token " + token);
            }
            skipGgufValue(b, type);
        }
        throw new IllegalStateException("no tokenizer.ggml.tokens in " + model());
    }

    private static String ggufString(ByteBuffer b) {
        int n = (int) b.getLong();
        byte[] s = new byte[n];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    private static void skipGgufValue(ByteBuffer b, int type) {
        switch (type) {
            case 0: case 1: case 7: b.position(b.position() + 1); break; // u8, i8, bool
            case 2: case 3: b.position(b.position() + 2); break;         // u16, i16
            case 4: case 5: case 6: b.position(b.position() + 4); break; // u32, i32, f32
            case 10: case 11: case 12: b.position(b.position() + 8); break; // u64, i64, f64
            case 8: ggufString(b); break;
            case 9: {
                int element = b.getInt();
                long n = b.getLong();
                for (long i = 0; i < n; i++) {
                    skipGgufValue(b, element);
                }
                break;
            }
            default: throw new IllegalStateException("unknown GGUF value type " + type);
        }
    }
}
