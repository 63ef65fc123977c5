package dev.llamaspec.spring.demo;

import org.springframework.http.HttpStatus;

/** A request the service answers with an error in OpenAI's shape: {@code {"error": {...}}}. */
final class ApiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final HttpStatus status;
    private final String type;
    private final String param;
    private final String code;

    ApiException(HttpStatus status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400 invalid_request_error about one field of the request (or the whole body when param is null). */
    static ApiException invalid(String param, String message) {
        return new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error", param, null, message);
    }

    HttpStatus status() {
        return status;
    }

    String type() {
        return type;
    }

    String param() {
        return param;
    }

    String code() {
        return code;
    }
}
