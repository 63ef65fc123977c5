package dev.llamaspec;

import java.util.List;
import java.util.Optional;

/**
 * What a loaded model is.
 *
 * @param name              {@code general.name}, empty when the file has none
 * @param architecture      {@code general.architecture}, e.g. "llama"
 * @param description       llama.cpp's one-line description (type, size, quantisation)
 * @param chatTemplate      the model's own chat template, empty when it has none
 * @param bosToken          the BOS (beginning of sequence) token, -1 when the model has none
 * @param eosToken          the EOS (end of sequence) token, -1 when the model has none
 * @param addsBos           whether the tokenizer puts BOS before a prompt ({@link LlamaModel#tokenize(String)})
 * @param addsEos           whether the tokenizer puts EOS after a prompt
 * @param parameterCount    number of parameters
 * @param sizeBytes         size of the weights in bytes
 * @param trainingContextSize context length the model was trained with
 * @param vocabularySize    number of tokens in the vocabulary
 * @param embeddingSize     hidden size
 * @param layerCount        number of layers
 * @param devices           the devices the model's layers are on, as "NAME (description)": the GPUs of
 *                          the loaded ggml backends when {@link ModelOptions#gpuLayers()} is not 0, then
 *                          the CPU; only the CPU when no GPU is available ({@link LlamaModel#backends()}), whatever gpuLayers says
 */
public record ModelInfo(String name, String architecture, String description, Optional<String> chatTemplate,
        int bosToken, int eosToken, boolean addsBos, boolean addsEos, long parameterCount, long sizeBytes,
        int trainingContextSize, int vocabularySize, int embeddingSize, int layerCount, List<String> devices) {

    public ModelInfo {
        devices = List.copyOf(devices);
    }

    /** Whether some layers run on a GPU. */
    public boolean onGpu() {
        return devices.stream().anyMatch(d -> !d.startsWith("CPU"));
    }

    /** Called from JNI; devices one per line. */
    static ModelInfo fromNative(String name, String architecture, String description, String chatTemplate,
            int bosToken, int eosToken, boolean addsBos, boolean addsEos, long parameterCount, long sizeBytes,
            int trainingContextSize, int vocabularySize, int embeddingSize, int layerCount, String devices) {
        return new ModelInfo(name, architecture, description,
                chatTemplate.isEmpty() ? Optional.empty() : Optional.of(chatTemplate), bosToken, eosToken, addsBos,
                addsEos, parameterCount, sizeBytes, trainingContextSize, vocabularySize, embeddingSize, layerCount,
                devices.isEmpty() ? List.of() : List.of(devices.split("\n")));
    }
}
