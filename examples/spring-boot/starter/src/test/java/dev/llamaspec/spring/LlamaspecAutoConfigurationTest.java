package dev.llamaspec.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llamaspec.GenerationOptions;
import dev.llamaspec.LlamaModel;
import dev.llamaspec.MedusaHeads;
import dev.llamaspec.MedusaTrainer;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.Speculation;
import dev.llamaspec.TestRpcServer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.test.context.assertj.AssertableApplicationContext;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

class LlamaspecAutoConfigurationTest {
    @TempDir
    static Path headsDir;
    /** Medusa heads for the test model, trained for a few steps: poor, but made for this model. */
    static Path heads;
    static String fingerprint;

    @BeforeAll
    static void trainHeads() {
        Path corpus = TestModel.path().resolveSibling("../corpus/tinystories_train_sample.txt").normalize();
        heads = headsDir.resolve("heads.gguf");
        try (LlamaModel model = LlamaModel.load(TestModel.path())) {
            MedusaTrainer.builder(corpus).heads(2).steps(4).batchSize(16).maxTokens(8000).maxEvalExamples(100)
                    .threads(1).build().train(model, heads);
            fingerprint = model.fingerprint();
        }
    }

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(LlamaspecAutoConfiguration.class));

    private ApplicationContextRunner withModel() {
        return runner.withPropertyValues("llamaspec.model=" + TestModel.path(), "llamaspec.threads=1");
    }

    @Test
    void configuresModelPoolChatModelAndHealthFromProperties() {
        withModel().withPropertyValues("llamaspec.pool-size=3", "llamaspec.context-size=256",
                "llamaspec.speculation=auto", "llamaspec.max-tokens=17", "llamaspec.temperature=0").run(context -> {
            assertThat(context).hasNotFailed();
            LlamaModel model = context.getBean(LlamaModel.class);
            assertThat(model.path()).isEqualTo(TestModel.path());
            assertThat(model.options().threads()).isEqualTo(1);
            assertThat(model.options().contextSize()).isEqualTo(256);

            SessionPool pool = context.getBean(SessionPool.class);
            assertThat(pool.size()).isEqualTo(3);
            assertThat(pool.available()).isEqualTo(3);
            assertThat(pool.contextSize()).isGreaterThanOrEqualTo(256);

            LlamaChatModel chat = context.getBean(LlamaChatModel.class);
            assertThat(chat.getOptions().getMaxTokens()).isEqualTo(17);
            assertThat(chat.getOptions().getTemperature()).isEqualTo(0.0);
            assertThat(chat.toGenerationOptions(null).speculation().kind().name()).isEqualTo("AUTO");
            assertThat(context.getBean(org.springframework.ai.embedding.EmbeddingModel.class))
                    .isInstanceOf(LlamaEmbeddingModel.class);
            assertThat(context.getBean(LlamaEmbeddingModel.class).dimensions()).isEqualTo(model.info().embeddingSize());

            Health health = context.getBean(LlamaspecHealthIndicator.class).health();
            assertThat(health.getStatus()).isEqualTo(Status.UP);
            assertThat(health.getDetails()).containsEntry("loaded", true)
                    .containsEntry("description", model.info().description())
                    .containsEntry("model", TestModel.path().toString())
                    .containsEntry("devices", model.info().devices());
            assertPool(health, Map.of("size", 3, "free", 3, "inUse", 0, "contextSize", pool.contextSize()));
            try (PooledSession borrowed = pool.borrow()) {
                assertPool(context.getBean(LlamaspecHealthIndicator.class).health(),
                        Map.of("size", 3, "free", 2, "inUse", 1, "contextSize", pool.contextSize()));
            }
        });
    }

    /** The pool's health: the counts given, and the threads of each of its sessions. */
    @SuppressWarnings("unchecked")
    private static void assertPool(Health health, Map<String, Object> counts) {
        Map<String, Object> pool = (Map<String, Object>) health.getDetails().get("pool");
        assertThat(pool).containsAllEntriesOf(counts).containsKeys("threads", "sessionsDecoding");
        int cores = Math.min(8, Runtime.getRuntime().availableProcessors());
        assertThat((List<Integer>) pool.get("threads")).hasSize((Integer) counts.get("size"))
                .allSatisfy(t -> assertThat(t).isBetween(1, cores));
        assertThat((Integer) pool.get("sessionsDecoding")).isGreaterThanOrEqualTo(0);
    }

    @Test
    void closingTheContextClosesPoolAndModel() {
        LlamaModel[] model = new LlamaModel[1];
        SessionPool[] pool = new SessionPool[1];
        LlamaspecHealthIndicator[] health = new LlamaspecHealthIndicator[1];
        withModel().run(context -> {
            model[0] = context.getBean(LlamaModel.class);
            pool[0] = context.getBean(SessionPool.class);
            health[0] = context.getBean(LlamaspecHealthIndicator.class);
            assertThat(model[0].isClosed()).isFalse();
        });
        assertThat(model[0].isClosed()).isTrue();
        assertThat(pool[0].isClosed()).isTrue();
        assertThat(health[0].health().getStatus()).isEqualTo(Status.DOWN);
    }

    @Test
    void medusaHeadsAreLoadedForTheModelAndClosedOnShutdown() {
        MedusaHeads[] loaded = new MedusaHeads[1];
        withModel().withPropertyValues("llamaspec.heads=" + heads, "llamaspec.speculation=medusa",
                "llamaspec.temperature=0", "llamaspec.max-tokens=32", "llamaspec.strict-numerics=true").run(context -> {
            assertThat(context).hasNotFailed();
            loaded[0] = context.getBean(MedusaHeads.class);
            assertThat(loaded[0].model()).isSameAs(context.getBean(LlamaModel.class));
            assertThat(loaded[0].path()).isEqualTo(heads);
            Speculation speculation = context.getBean(Speculation.class);
            assertThat(speculation.kind()).isEqualTo(Speculation.Kind.MEDUSA);
            assertThat(((Speculation.Medusa) speculation).heads()).isSameAs(loaded[0]);
            GenerationOptions options = context.getBean(LlamaChatModel.class).toGenerationOptions(null);
            assertThat(options.speculation()).isEqualTo(speculation);
            assertGreedyTextUnchanged(context.getBean(SessionPool.class), options);
        });
        assertThat(loaded[0].isClosed()).isTrue();
    }

    @Test
    void aDraftModelIsLoadedBesideTheModelAndClosedOnShutdown() {
        DraftModel[] loaded = new DraftModel[1];
        withModel().withPropertyValues("llamaspec.draft-model=" + TestModel.path(), "llamaspec.speculation=draft",
                "llamaspec.temperature=0", "llamaspec.max-tokens=32", "llamaspec.strict-numerics=true")
                .run(context -> {
            assertThat(context).hasNotFailed();
            loaded[0] = context.getBean(DraftModel.class);
            LlamaModel model = context.getBean(LlamaModel.class); // still the one LlamaModel bean
            assertThat(loaded[0].model()).isNotSameAs(model);
            assertThat(loaded[0].model().options().threads()).isEqualTo(1);
            Speculation speculation = context.getBean(Speculation.class);
            assertThat(speculation.kind()).isEqualTo(Speculation.Kind.DRAFT_MODEL);
            assertThat(((Speculation.DraftModel) speculation).draftModel()).isSameAs(loaded[0].model());
            GenerationOptions options = context.getBean(LlamaChatModel.class).toGenerationOptions(null);
            assertThat(options.speculation()).isEqualTo(speculation);
            assertGreedyTextUnchanged(context.getBean(SessionPool.class), options);
        });
        assertThat(loaded[0].model().isClosed()).isTrue();
    }

    @Test
    void anEmbeddingModelIsLoadedBesideTheModelAndClosedOnShutdown() {
        LlamaEmbeddingModel[] loaded = new LlamaEmbeddingModel[1];
        withModel().withPropertyValues("llamaspec.embedding-model=" + TestModel.path()).run(context -> {
            assertThat(context).hasNotFailed();
            loaded[0] = context.getBean(LlamaEmbeddingModel.class);
            LlamaModel model = context.getBean(LlamaModel.class);
            assertThat(loaded[0].model()).isNotSameAs(model);
            assertThat(loaded[0].model().options().threads()).isEqualTo(1);
            assertThat(loaded[0].embed("Once upon a time")).containsExactly(model.embed("Once upon a time"));
        });
        assertThat(loaded[0].model().isClosed()).isTrue();
        // without the property the embeddings are the main model's, which stays open until the model bean closes
        withModel().run(context -> assertThat(context.getBean(LlamaEmbeddingModel.class).model())
                .isSameAs(context.getBean(LlamaModel.class)));
    }

    @Test
    void anEmbeddingModelAloneGivesTheEmbeddingModelBeanAlone() {
        LlamaEmbeddingModel[] loaded = new LlamaEmbeddingModel[1];
        runner.withPropertyValues("llamaspec.embedding-model=" + TestModel.path(), "llamaspec.threads=1")
                .run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).doesNotHaveBean(LlamaModel.class).doesNotHaveBean(SessionPool.class)
                    .doesNotHaveBean(LlamaChatModel.class);
            loaded[0] = context.getBean(LlamaEmbeddingModel.class);
            assertThat(loaded[0].embed("Once upon a time")).hasSize(loaded[0].dimensions());
        });
        assertThat(loaded[0].model().isClosed()).isTrue();
        runner.withPropertyValues("llamaspec.embedding-model=no/such/model.gguf").run(context -> {
            FailureAnalysis analysis = analyse(context);
            assertThat(analysis.getDescription()).contains("llamaspec.embedding-model is 'no/such/model.gguf'")
                    .contains("there is no file");
            assertThat(analysis.getAction()).contains("llamaspec.embedding-model");
        });
        runner.withPropertyValues("llamaspec.embedding-model=" + heads).run(context -> {
            FailureAnalysis analysis = analyse(context);
            assertThat(analysis.getDescription()).contains("Cannot load the embedding model " + heads);
        });
    }

    private static void assertGreedyTextUnchanged(SessionPool pool, GenerationOptions options) {
        try (PooledSession pooled = pool.borrow()) {
            String prompt = "Once upon a time";
            String plain = pooled.session().generate(prompt,
                    options.toBuilder().speculation(Speculation.none()).build()).text();
            assertThat(pooled.session().generate(prompt, options.toBuilder()
                    .speculation(options.speculation().withBudget(false)).build()).text()).isEqualTo(plain);
        }
    }

    @Test
    void medusaOrDraftWithoutWhatTheyNeedIsExplained() {
        withModel().withPropertyValues("llamaspec.speculation=medusa").run(context -> {
            FailureAnalysis analysis = analyse(context);
            assertThat(analysis.getDescription()).contains("llamaspec.speculation is medusa")
                    .contains("no Medusa heads");
            assertThat(analysis.getAction()).contains("Set llamaspec.heads");
        });
        withModel().withPropertyValues("llamaspec.speculation=draft", "llamaspec.heads=" + heads).run(context -> {
            FailureAnalysis analysis = analyse(context);
            assertThat(analysis.getDescription()).contains("llamaspec.speculation is draft")
                    .contains("no draft model");
            assertThat(analysis.getAction()).contains("Set llamaspec.draft-model");
        });
    }

    @Test
    void headsThatDoNotFitTheModelAreExplained(@TempDir Path dir) throws Exception {
        Path other = dir.resolve("other-heads.gguf");
        String file = new String(Files.readAllBytes(heads), StandardCharsets.ISO_8859_1);
        Files.write(other, file.replace(fingerprint, "0123456789abcdef").getBytes(StandardCharsets.ISO_8859_1));
        withModel().withPropertyValues("llamaspec.heads=" + other, "llamaspec.speculation=medusa").run(context -> {
            FailureAnalysis analysis = analyse(context);
            assertThat(analysis.getDescription()).contains("Cannot load the Medusa heads " + other)
                    .contains(fingerprint).contains("0123456789abcdef");
            assertThat(analysis.getAction()).contains("llamaspec.heads");
        });
        withModel().withPropertyValues("llamaspec.heads=no/such/heads.gguf").run(context ->
                assertThat(analyse(context).getDescription()).contains("llamaspec.heads is 'no/such/heads.gguf', but"
                        + " there is no file"));
        withModel().withPropertyValues("llamaspec.draft-model=" + heads, "llamaspec.speculation=draft").run(context -> {
            FailureAnalysis analysis = analyse(context);
            assertThat(analysis.getDescription()).contains("Cannot load the draft model " + heads);
            assertThat(analysis.getAction()).contains("llamaspec.draft-model");
        });
    }

    @Test
    void missingModelSettingIsExplained() {
        runner.run(context -> assertThat(analyse(context).getDescription()).isEqualTo("llamaspec.model is not set."));
    }

    @Test
    void missingModelFileIsNamed() {
        runner.withPropertyValues("llamaspec.model=no/such/model.gguf").run(context -> {
            FailureAnalysis analysis = analyse(context);
            assertThat(analysis.getDescription()).contains("no/such/model.gguf").contains("there is no file");
            assertThat(analysis.getAction()).contains("llamaspec.model");
        });
    }

    @Test
    void unknownSpeculationIsExplained() {
        withModel().withPropertyValues("llamaspec.speculation=fast").run(context -> {
            FailureAnalysis analysis = analyse(context);
            assertThat(analysis.getDescription()).contains("llamaspec.speculation").contains("unknown speculation 'fast'");
        });
    }

    @Test
    void theDefaultsAreTheLibrarys() {
        LlamaspecProperties p = new LlamaspecProperties();
        assertThat(p.getThreads()).isEqualTo(ModelOptions.defaults().threads());
        assertThat(p.getContextSize()).isEqualTo(ModelOptions.defaults().contextSize());
        assertThat(p.getGpuLayers()).isEqualTo(ModelOptions.defaults().gpuLayers());
        assertThat(p.getMaxTokens()).isEqualTo(GenerationOptions.defaults().maxTokens());
        assertThat(p.getTemperature()).isEqualTo(GenerationOptions.defaults().temperature());
        assertThat(p.modelOptions().toString()).isEqualTo(ModelOptions.defaults().toString());
    }

    @Test
    void speculationIsReadBySpeculationParse() {
        withModel().withPropertyValues("llamaspec.speculation=Prompt-Lookup").run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context.getBean(Speculation.class)).isEqualTo(Speculation.promptLookup());
            assertThat(context.getBean(LlamaspecProperties.class).generationOptions().build().speculation())
                    .isEqualTo(Speculation.promptLookup());
        });
        withModel().withPropertyValues("llamaspec.speculation=draft-model").run(context -> {
            FailureAnalysis analysis = analyse(context);
            assertThat(analysis.getDescription()).contains("llamaspec.speculation is draft").contains("no draft model");
            assertThat(analysis.getAction()).contains("Set llamaspec.draft-model");
        });
        withModel().withPropertyValues("llamaspec.speculation=warp").run(context ->
                assertThat(analyse(context).getAction())
                        .contains("none, lookup, recycling, auto, lookahead, draft, medusa"));
    }

    @Test
    void outOfRangeSettingsAreExplained() {
        withModel().withPropertyValues("llamaspec.pool-size=0").run(context ->
                assertThat(analyse(context).getDescription()).contains("llamaspec.pool-size must be in [1, 256], got 0"));
        withModel().withPropertyValues("llamaspec.temperature=-1").run(context ->
                assertThat(analyse(context).getDescription()).contains("temperature must be in"));
        withModel().withPropertyValues("llamaspec.threads=-2").run(context ->
                assertThat(analyse(context).getDescription()).contains("threads must be in"));
    }

    @Test
    void healthIndicatorCanBeTurnedOff() {
        withModel().withPropertyValues("management.health.llamaspec.enabled=false").run(context -> {
            assertThat(context).hasSingleBean(SessionPool.class);
            assertThat(context).doesNotHaveBean(LlamaspecHealthIndicator.class);
        });
    }

    @Test
    void anApplicationModelBeanIsUsed() {
        try (LlamaModel own = LlamaModel.load(TestModel.path())) {
            runner.withBean(LlamaModel.class, () -> own, bean -> bean.setDestroyMethodName("")).run(context -> {
                assertThat(context).hasNotFailed();
                assertThat(context.getBean(SessionPool.class).model()).isSameAs(own);
            });
            assertThat(own.isClosed()).isFalse();
        }
    }

    @Test
    void rpcServersSplitTheModelAndALostServerTakesTheHealthDown() throws Exception {
        try (TestRpcServer server = TestRpcServer.start()) {
            withModel().withPropertyValues("llamaspec.rpc-servers=" + server.endpoint(), "llamaspec.rpc-timeout=2s",
                    "llamaspec.pool-size=1", "llamaspec.temperature=0").run(context -> {
                assertThat(context).hasNotFailed();
                LlamaModel model = context.getBean(LlamaModel.class);
                assertThat(model.rpcServers()).containsExactly(server.endpoint());
                Health up = context.getBean(LlamaspecHealthIndicator.class).health();
                assertThat(up.getStatus()).isEqualTo(Status.UP);
                assertThat(up.getDetails()).containsEntry("rpcServers", List.of(server.endpoint()));
                assertThat(up.getDetails().get("devices").toString()).contains("RPC server " + server.endpoint());
                LlamaChatModel chat = context.getBean(LlamaChatModel.class);
                assertThat(chat.call("Tell me a story.")).isNotEmpty();

                server.process().destroyForcibly().waitFor();
                assertThatThrownBy(() -> chat.call("Tell me a story.")).hasMessageContaining(server.endpoint());
                Health down = context.getBean(LlamaspecHealthIndicator.class).health();
                assertThat(down.getStatus()).isEqualTo(Status.DOWN);
                assertThat(down.getDetails().get("error").toString()).contains(server.endpoint());
            });
        }
        withModel().withPropertyValues("llamaspec.rpc-servers=nocolon").run(context -> {
            FailureAnalysis analysis = analyse(context);
            assertThat(analysis.getDescription()).contains("llamaspec.rpc-servers").contains("nocolon");
        });
        int nothing = TestRpcServer.freePort();
        withModel().withPropertyValues("llamaspec.rpc-servers=127.0.0.1:" + nothing).run(context -> {
            FailureAnalysis analysis = analyse(context);
            assertThat(analysis.getDescription()).contains("127.0.0.1:" + nothing);
            assertThat(analysis.getAction()).contains("ggml-rpc-server");
        });
    }

    /** The startup failure as Spring Boot reports it. */
    private static FailureAnalysis analyse(AssertableApplicationContext context) {
        assertThat(context).hasFailed();
        FailureAnalysis analysis = new LlamaspecFailureAnalyzer().analyze(context.getStartupFailure());
        assertThat(analysis).as("a LlamaspecConfigurationException in %s", context.getStartupFailure()).isNotNull();
        return analysis;
    }
}
