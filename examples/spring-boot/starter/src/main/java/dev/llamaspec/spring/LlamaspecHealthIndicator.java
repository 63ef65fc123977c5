package dev.llamaspec.spring;

import dev.llamaspec.LlamaModel;
import dev.llamaspec.ModelInfo;
import dev.llamaspec.Session;
import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * Health of the model and its session pool, as the {@code llamaspec} component of
 * {@code /actuator/health}: UP with the model's description, the pool's size and free sessions, the
 * threads each session ran its last step on, and the sessions of the process decoding at the moment
 * (automatic threads are divided among them) while the model is loaded and the pool open, DOWN once
 * either is closed or an RPC server of the model went away ({@code rpcServers} lists them).
 */
public class LlamaspecHealthIndicator implements HealthIndicator {
    private final LlamaModel model;
    private final SessionPool pool;

    public LlamaspecHealthIndicator(LlamaModel model, SessionPool pool) {
        this.model = model;
        this.pool = pool;
    }

    @Override
    public Health health() {
        if (model.isClosed()) {
            return Health.down().withDetail("model", model.path().toString()).withDetail("loaded", false)
                    .withDetail("error", "the model is closed").build();
        }
        java.util.Optional<String> failure = model.failure();
        if (failure.isPresent()) {
            return Health.down().withDetail("model", model.path().toString()).withDetail("loaded", true)
                    .withDetail("rpcServers", model.rpcServers()).withDetail("error", failure.get()).build();
        }
        if (pool.isClosed()) {
            return Health.down().withDetail("model", model.path().toString()).withDetail("loaded", true)
                    .withDetail("error", "the session pool is closed").build();
        }
        ModelInfo info = model.info();
        Map<String, Object> poolDetails = new LinkedHashMap<>();
        poolDetails.put("size", pool.size());
        poolDetails.put("free", pool.available());
        poolDetails.put("inUse", pool.inUse());
        poolDetails.put("contextSize", pool.contextSize());
        poolDetails.put("threads", pool.threads());
        poolDetails.put("sessionsDecoding", Session.decodingNow());
        return Health.up()
                .withDetail("model", model.path().toString())
                .withDetail("loaded", true)
                .withDetail("name", info.name())
                .withDetail("description", info.description())
                .withDetail("architecture", info.architecture())
                .withDetail("parameters", info.parameterCount())
                .withDetail("devices", info.devices())
                .withDetail("rpcServers", model.rpcServers())
                .withDetail("chatTemplate", info.chatTemplate().isPresent())
                .withDetail("pool", poolDetails)
                .build();
    }
}
