package dev.llamaspec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SmokeTest {
    @Test
    void generatesGreedily() {
        try (LlamaModel model = LlamaModel.load(TestModels.model()); Session session = model.newSession()) {
            Generation g = session.generate("Once upon a time", GenerationOptions.builder().temperature(0).maxTokens(16).build());
            assertEquals(16, g.tokens().length);
            assertTrue(g.text().startsWith(", there was a little girl named Lily"), g.text());
        }
    }
}
