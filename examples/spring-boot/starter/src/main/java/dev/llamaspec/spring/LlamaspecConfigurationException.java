package dev.llamaspec.spring;

/**
 * A {@code llamaspec.*} setting that cannot work. Thrown while the application starts; Spring Boot
 * reports it through {@link LlamaspecFailureAnalyzer} as a description and an action.
 */
public class LlamaspecConfigurationException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String action;

    public LlamaspecConfigurationException(String description, String action) {
        super(description);
        this.action = action;
    }

    public LlamaspecConfigurationException(String description, String action, Throwable cause) {
        super(description, cause);
        this.action = action;
    }

    /** What to change to fix it. */
    public String action() {
        return action;
    }
}
