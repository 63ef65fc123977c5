package dev.llamaspec;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** Tests that share one loaded test model for the whole class. */
abstract class WithTestModel {
    static LlamaModel model;

    @BeforeAll
    static void loadModel() {
        model = LlamaModel.load(TestModels.model());
    }

    @AfterAll
    static void closeModel() {
        model.close();
    }
}
