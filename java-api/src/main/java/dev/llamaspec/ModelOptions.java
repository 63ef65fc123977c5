package dev.llamaspec;

/**
 * How a model is loaded. Immutable; build with {@link #builder()}. Defaults and ranges are the engine's
 * ({@code sd_model_settings}: {@code n_threads}, {@code n_gpu_layers}, {@code use_mmap}, {@code n_ctx}).
 */
public final class ModelOptions {
    private static final Lazy<ModelOptions> DEFAULTS = new Lazy<>(() -> builder().build());

    private final int threads;
    private final int gpuLayers;
    private final boolean mmap;
    private final int contextSize;
    private final java.util.List<String> rpcServers;
    private final java.time.Duration rpcTimeout;

    private ModelOptions(Builder b) {
        this.threads = b.threads;
        this.gpuLayers = b.gpuLayers;
        this.mmap = b.mmap;
        this.contextSize = b.contextSize;
        this.rpcServers = java.util.List.copyOf(b.rpcServers);
        this.rpcTimeout = b.rpcTimeout;
    }

    /**
     * The engine's defaults.
     *
     * @throws LlamaException ({@link ErrorCode#NATIVE_LIBRARY}) when the native library, which holds
     *     them, cannot be loaded
     */
    public static ModelOptions defaults() {
        return DEFAULTS.get();
    }

    /** A builder starting from the engine's defaults (it loads the native library, see {@link #defaults()}). */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Default threads of this model's sessions; 0 = automatic: up to the number of cores (at most 8),
     * shared among the sessions evaluating at the moment and lowered while the machine is busy (see
     * {@link SessionOptions#threads()}).
     */
    public int threads() {
        return threads;
    }

    /** Layers offloaded to a GPU; -1 = all (the default), 0 = none. No effect without a GPU backend. */
    public int gpuLayers() {
        return gpuLayers;
    }

    /** Whether the file is memory-mapped rather than read (default true). */
    public boolean mmap() {
        return mmap;
    }

    /** Default context size of this model's sessions in tokens; 0 = the training context, at most 4096. */
    public int contextSize() {
        return contextSize;
    }

    /**
     * The ggml RPC servers ({@code ggml-rpc-server}, "host:port" each) the model's layers are split over,
     * with the local GPUs, as llama.cpp splits them over devices; empty (the default) for a local model.
     * The drafters (draft model, Medusa heads, lookup tables) stay local.
     */
    public java.util.List<String> rpcServers() {
        return rpcServers;
    }

    /**
     * With {@link #rpcServers()}: how long one remote operation may take (the evaluation of a batch
     * included) before its server is given up; default 30 s. A server that closes its connection fails
     * at once.
     */
    public java.time.Duration rpcTimeout() {
        return rpcTimeout;
    }

    public Builder toBuilder() {
        return new Builder().threads(threads).gpuLayers(gpuLayers).mmap(mmap).contextSize(contextSize)
                .rpcServers(rpcServers).rpcTimeout(rpcTimeout);
    }

    /** The options by the engine's names, as {@link LlamaModel#load(java.nio.file.Path, ModelOptions)} passes them. */
    NamedValues settings() {
        return new NamedValues().put("n_threads", threads).put("n_gpu_layers", gpuLayers).put("use_mmap", mmap)
                .put("n_ctx", contextSize).put("rpc_timeout_ms", rpcTimeout.toMillis());
    }

    @Override
    public String toString() {
        return "ModelOptions{threads=" + threads + ", gpuLayers=" + gpuLayers + ", mmap=" + mmap
                + ", contextSize=" + contextSize + (rpcServers.isEmpty() ? "" : ", rpcServers=" + rpcServers
                + ", rpcTimeout=" + rpcTimeout) + "}";
    }

    /** The most RPC servers one model may use (ggml's GGML_RPC_MAX_SERVERS). */
    public static final int MAX_RPC_SERVERS = 16;

    private static final java.util.regex.Pattern HOST = java.util.regex.Pattern.compile("[A-Za-z0-9._-]+");

    /** Checks "host:port": a host name or IPv4 address, and a port from 1 to 65535. */
    static void checkRpcServer(String server) {
        if (server == null) {
            throw new IllegalArgumentException("rpcServers: an address is null");
        }
        int colon = server.lastIndexOf(':');
        String host = colon < 0 ? "" : server.substring(0, colon);
        String port = colon < 0 ? "" : server.substring(colon + 1);
        if (host.isEmpty() || port.isEmpty()) {
            throw new IllegalArgumentException("rpcServers: \"" + server + "\" is not HOST:PORT");
        }
        if (!HOST.matcher(host).matches()) {
            throw new IllegalArgumentException("rpcServers: \"" + server + "\": \"" + host
                    + "\" is not a host name or IPv4 address (ggml's RPC backend speaks IPv4)");
        }
        int number;
        try {
            number = port.length() > 5 ? -1 : Integer.parseInt(port);
        } catch (NumberFormatException e) {
            number = -1;
        }
        if (number < 1 || number > 65535 || !port.chars().allMatch(Character::isDigit)) {
            throw new IllegalArgumentException("rpcServers: \"" + server + "\": the port must be a number from 1 to 65535");
        }
    }

    public static final class Builder {
        private int threads;
        private int gpuLayers;
        private boolean mmap;
        private int contextSize;
        private java.util.List<String> rpcServers = java.util.List.of();
        private java.time.Duration rpcTimeout;

        private Builder() {
            SettingTable t = SettingTable.MODEL;
            threads = t.get("n_threads").intDefault();
            gpuLayers = t.get("n_gpu_layers").intDefault();
            mmap = t.get("use_mmap").boolDefault();
            contextSize = t.get("n_ctx").intDefault();
            rpcTimeout = java.time.Duration.ofMillis(t.get("rpc_timeout_ms").intDefault());
        }

        /**
         * ggml RPC servers to split the model's layers over, "host:port" each (see
         * {@link ModelOptions#rpcServers()}); checked by {@link #build()}.
         */
        public Builder rpcServers(java.util.List<String> rpcServers) {
            this.rpcServers = java.util.Objects.requireNonNull(rpcServers, "rpcServers");
            return this;
        }

        /** How long one remote operation may take (see {@link ModelOptions#rpcTimeout()}); 100 ms to 1 hour. */
        public Builder rpcTimeout(java.time.Duration rpcTimeout) {
            this.rpcTimeout = java.util.Objects.requireNonNull(rpcTimeout, "rpcTimeout");
            return this;
        }

        /** Default threads of the model's sessions; 0 = automatic (see {@link ModelOptions#threads()}). */
        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        /** Layers offloaded to a GPU, -1 for all. */
        public Builder gpuLayers(int gpuLayers) {
            this.gpuLayers = gpuLayers;
            return this;
        }

        /**
         * Maps the model's file (true, the default) or reads it into memory (false). Reading costs the
         * page cache's copy and sharing between processes; on some virtual machines mapped weights
         * stall decoding, and reading them is then much faster (docs/benchmarks.md, "Stalls").
         */
        public Builder mmap(boolean mmap) {
            this.mmap = mmap;
            return this;
        }

        /** Default context size of the model's sessions; 0 = the training context, at most 4096. */
        public Builder contextSize(int contextSize) {
            this.contextSize = contextSize;
            return this;
        }

        /** @throws IllegalArgumentException when a value is out of the engine's range, naming the option */
        public ModelOptions build() {
            SettingTable t = SettingTable.MODEL;
            t.get("n_threads").check("threads", threads);
            t.get("n_gpu_layers").check("gpuLayers", gpuLayers);
            t.get("n_ctx").check("contextSize", contextSize);
            if (rpcServers.size() > MAX_RPC_SERVERS) {
                throw new IllegalArgumentException("rpcServers: at most " + MAX_RPC_SERVERS + " servers, got "
                        + rpcServers.size());
            }
            java.util.Set<String> seen = new java.util.HashSet<>();
            for (String server : rpcServers) {
                checkRpcServer(server);
                if (!seen.add(server)) {
                    throw new IllegalArgumentException("rpcServers: \"" + server + "\" is given twice");
                }
            }
            long ms = rpcTimeout.isNegative() ? -1 : rpcTimeout.toMillis();
            if (ms < 100 || ms > 3_600_000) {
                throw new IllegalArgumentException("rpcTimeout must be from 100 ms to 1 hour, got " + rpcTimeout);
            }
            return new ModelOptions(this);
        }
    }
}
