package dev.llamaspec;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.Set;

/**
 * Imports Medusa heads published in the original Medusa format into a heads file for
 * {@link MedusaHeads#load}: a {@code config.json} with {@code medusa_num_heads} and
 * {@code medusa_num_layers} (and, when present, {@code hidden_size} and {@code vocab_size}), and
 * {@code medusa_lm_head.safetensors} with, for head {@code k} and block {@code l},
 * {@code k.l.linear.weight} [hidden, hidden], {@code k.l.linear.bias} [hidden] and the head's output
 * projection {@code k.L.weight} [vocabulary, hidden] (L = the number of blocks), in F32, F16 or BF16.
 *
 * <p>Medusa's block is {@code x + SiLU(W x + b)}, the heads file's own; PyTorch stores a linear
 * layer's weight as [out][in], the heads file's row-major order. The values are read and converted
 * to F32 in native memory, so heads of several GB never pass through the Java heap. The heads file
 * records {@code model}'s fingerprint: the heads must have been trained for this model (the importer
 * checks the sizes; it cannot check the training).
 *
 * <pre>{@code
 * Path heads = MedusaImporter.importHeads(model, Path.of("medusa-vicuna-7b-v1.3"), Path.of("vicuna-heads.gguf"));
 * try (MedusaHeads medusa = MedusaHeads.load(model, heads)) { ... }
 * }</pre>
 */
public final class MedusaImporter {
    /** The configuration file in a Medusa heads directory. */
    public static final String CONFIG = "config.json";
    /** The weights file in a Medusa heads directory. */
    public static final String WEIGHTS = "medusa_lm_head.safetensors";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_CONFIG = 16 << 20;

    private MedusaImporter() {}

    /**
     * Imports the heads in {@code medusaDir} ({@value #CONFIG} and {@value #WEIGHTS}) for
     * {@code model} and writes them to {@code output}.
     *
     * @return {@code output} as an absolute path
     * @throws LlamaException with {@link ErrorCode#MODEL_LOAD} when a file is missing or malformed
     *     (naming the key, tensor or shape), with {@link ErrorCode#INVALID_ARGUMENT} when the heads'
     *     hidden size or vocabulary differ from the model's, or when the output cannot be written
     * @throws IllegalStateException when the model is closed
     */
    public static Path importHeads(LlamaModel model, Path medusaDir, Path output) {
        Objects.requireNonNull(medusaDir, "medusaDir");
        Path weights = medusaDir.resolve(WEIGHTS);
        if (!Files.isRegularFile(weights) && Files.isRegularFile(medusaDir.resolve("medusa_lm_head.pt"))) {
            throw new LlamaException(ErrorCode.MODEL_LOAD, "no " + WEIGHTS + " in " + medusaDir
                    + ": only medusa_lm_head.pt, a PyTorch pickle, which is not read; convert it with"
                    + " safetensors.torch.save_file(torch.load(path), \"" + WEIGHTS + "\")");
        }
        return importHeads(model, medusaDir.resolve(CONFIG), weights, output);
    }

    /** Same as {@link #importHeads(LlamaModel, Path, Path)} with the two files named. */
    public static Path importHeads(LlamaModel model, Path config, Path safetensors, Path output) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(safetensors, "safetensors");
        Objects.requireNonNull(output, "output");
        JsonNode json = readConfig(config);
        // the heads a file may hold: the training table's ranges are the heads file's limits
        // (SD_HEADS_MAX, SD_HEADS_MAX_LAYERS)
        Setting headsRange = SettingTable.TRAIN.get("heads");
        Setting layersRange = SettingTable.TRAIN.get("layers");
        int heads = configInt(config, json, "medusa_num_heads", (int) headsRange.min(), (int) headsRange.max(), true);
        int layers = configInt(config, json, "medusa_num_layers", (int) layersRange.min(), (int) layersRange.max(),
                true);
        int configHidden = configInt(config, json, "hidden_size", 1, Integer.MAX_VALUE, false);
        int configVocab = configInt(config, json, "vocab_size", 1, Integer.MAX_VALUE, false);

        SafeTensors file = SafeTensors.read(safetensors);
        String output0 = "0." + layers + ".weight";
        SafeTensors.Tensor first = require(file, layers > 0 ? "0.0.linear.weight" : output0, heads, layers);
        long hidden = configHidden > 0 ? configHidden : first.shape()[first.shape().length - 1];
        SafeTensors.Tensor out0 = require(file, output0, heads, layers);
        long vocab = configVocab > 0 ? configVocab : out0.shape()[0];

        String sizes = "hidden size " + hidden + (configHidden > 0 ? " from " + config : "") + ", vocabulary " + vocab
                + (configVocab > 0 ? " from " + config : "");
        long[] offsets = new long[heads * (2 * layers + 1)];
        String[] types = new String[offsets.length];
        Set<String> expected = new LinkedHashSet<>();
        int i = 0;
        for (int k = 0; k < heads; k++) {
            for (int l = 0; l < layers; l++) {
                i = add(file, k + "." + l + ".linear.weight", new long[] {hidden, hidden}, sizes, expected, offsets,
                        types, i);
                i = add(file, k + "." + l + ".linear.bias", new long[] {hidden}, sizes, expected, offsets, types,
                        i);
            }
            i = add(file, k + "." + layers + ".weight", new long[] {vocab, hidden}, sizes, expected, offsets,
                    types, i);
        }
        for (String name : file.tensors().keySet()) {
            if (!expected.contains(name)) {
                throw new LlamaException(ErrorCode.MODEL_LOAD, "unexpected tensor '" + name + "' in " + safetensors
                        + " (" + config + " gives " + heads + " heads of " + layers + " blocks each)");
            }
        }

        ModelInfo info = model.info();
        if (hidden != info.embeddingSize()) {
            throw new LlamaException(ErrorCode.INVALID_ARGUMENT, "the Medusa heads are for hidden size " + hidden
                    + ", the model " + model.path() + " has " + info.embeddingSize());
        }
        if (vocab != info.vocabularySize()) {
            throw new LlamaException(ErrorCode.INVALID_ARGUMENT, "the Medusa heads are for a vocabulary of " + vocab
                    + " tokens, the model " + model.path() + " has " + info.vocabularySize());
        }
        Path absolute = output.toAbsolutePath();
        byte[] source = safetensors.toAbsolutePath().toString().getBytes(StandardCharsets.UTF_8);
        byte[] target = absolute.toString().getBytes(StandardCharsets.UTF_8);
        int hiddenSize = (int) hidden;
        int vocabSize = (int) vocab;
        model.nativeHandle().run(m -> nImport(m, source, target, heads, layers, hiddenSize, vocabSize, offsets, types));
        return absolute;
    }

    private static JsonNode readConfig(Path config) {
        try {
            if (!Files.isRegularFile(config)) {
                throw new LlamaException(ErrorCode.MODEL_LOAD, "Medusa config not found: " + config);
            }
            if (Files.size(config) > MAX_CONFIG) {
                throw new LlamaException(ErrorCode.MODEL_LOAD, "Medusa config " + config + " is larger than "
                        + MAX_CONFIG + " bytes");
            }
            JsonNode json = JSON.readTree(Files.readAllBytes(config));
            if (json == null || !json.isObject()) {
                throw new LlamaException(ErrorCode.MODEL_LOAD, "Medusa config " + config + " is not a JSON object");
            }
            return json;
        } catch (JacksonException e) {
            throw new LlamaException(ErrorCode.MODEL_LOAD, "Medusa config " + config + " is not valid JSON: "
                    + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new LlamaException(ErrorCode.MODEL_LOAD, "cannot read the Medusa config " + config + ": " + e, e);
        }
    }

    /** An integer of the config in [min, max]; 0 when absent and not required. */
    private static int configInt(Path config, JsonNode json, String key, int min, int max, boolean required) {
        JsonNode v = json.get(key);
        if (v == null || v.isNull()) {
            if (required) {
                throw new LlamaException(ErrorCode.MODEL_LOAD, "Medusa config " + config + " lacks " + key);
            }
            return 0;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < min || v.asInt() > max) {
            throw new LlamaException(ErrorCode.MODEL_LOAD, "Medusa config " + config + " has " + key + " = " + v
                    + ", expected an integer in " + min + ".." + max);
        }
        return v.asInt();
    }

    private static SafeTensors.Tensor require(SafeTensors file, String name, int heads, int layers) {
        SafeTensors.Tensor t = file.tensors().get(name);
        if (t == null) {
            throw new LlamaException(ErrorCode.MODEL_LOAD, "the Medusa weights " + file.file() + " lack tensor '" + name
                    + "' (expected for " + heads + " heads of " + layers + " blocks each)");
        }
        if (t.shape().length == 0) {
            throw new LlamaException(ErrorCode.MODEL_LOAD, "tensor '" + name + "' in " + file.file() + " is a scalar");
        }
        return t;
    }

    private static int add(SafeTensors file, String name, long[] shape, String sizes, Set<String> expected,
            long[] offsets, String[] types, int i) {
        SafeTensors.Tensor t = file.tensors().get(name);
        if (t == null) {
            throw new LlamaException(ErrorCode.MODEL_LOAD, "the Medusa weights " + file.file() + " lack tensor '" + name
                    + "'");
        }
        if (!Arrays.equals(t.shape(), shape)) {
            throw new LlamaException(ErrorCode.MODEL_LOAD, "tensor '" + name + "' in " + file.file() + " has shape "
                    + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(shape) + " (" + sizes + ")");
        }
        switch (t.dtype()) {
            case "F32": case "F16": case "BF16": types[i] = t.dtype(); break;
            default:
                throw new LlamaException(ErrorCode.MODEL_LOAD, "tensor '" + name + "' in " + file.file() + " has dtype "
                        + t.dtype() + ", expected F32, F16 or BF16");
        }
        offsets[i] = t.offset();
        expected.add(name);
        return i + 1;
    }

    /**
     * Writes a heads file for {@code model} from weights in another file: {@code heads} heads of
     * {@code layers} blocks for a model of {@code hiddenSize} and {@code vocabSize}; {@code offsets[i]} and
     * {@code dtypes[i]} ("F32", "F16", "BF16") say where tensor i lies, in the heads file's order (per head:
     * weight and bias of each block, then the output projection).
     */
    static native void nImport(long model, byte[] source, byte[] output, int heads, int layers, int hiddenSize,
            int vocabSize, long[] offsets, String[] dtypes);
}
