package dev.llamaspec.spring;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/** Turns a bad {@code llamaspec.*} setting into Spring Boot's "APPLICATION FAILED TO START" report. */
public class LlamaspecFailureAnalyzer extends AbstractFailureAnalyzer<LlamaspecConfigurationException> {

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, LlamaspecConfigurationException cause) {
        return new FailureAnalysis(cause.getMessage(), cause.action(), cause);
    }
}
