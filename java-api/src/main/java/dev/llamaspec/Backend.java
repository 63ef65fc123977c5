package dev.llamaspec;

/**
 * A ggml backend loaded in this process ({@link LlamaModel#backends()}).
 *
 * @param name    ggml's name of the backend: "CPU", "Vulkan", "CUDA", ...
 * @param devices how many devices it found; a GPU backend whose driver is missing finds 0
 */
public record Backend(String name, int devices) {

    @Override
    public String toString() {
        return name + " (" + devices + (devices == 1 ? " device)" : " devices)");
    }
}
