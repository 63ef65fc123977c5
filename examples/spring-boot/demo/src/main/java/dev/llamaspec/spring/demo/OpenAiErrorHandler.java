package dev.llamaspec.spring.demo;

import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ObjectNode;
import dev.llamaspec.ErrorCode;
import dev.llamaspec.LlamaException;
import dev.llamaspec.spring.SessionPoolExhaustedException;
import jakarta.servlet.http.HttpServletResponse;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.springframework.http.HttpStatus;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.ErrorResponse;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.context.request.async.AsyncRequestNotUsableException;

/** Every error as OpenAI's {@code {"error": {"message", "type", "param", "code"}}} with a fitting status. */
@RestControllerAdvice
public class OpenAiErrorHandler {
    private static final Log log = LogFactory.getLog(OpenAiErrorHandler.class);

    private final ObjectMapper json;

    public OpenAiErrorHandler(ObjectMapper json) {
        this.json = json;
    }

    @ExceptionHandler(ApiException.class)
    ResponseEntity<ObjectNode> api(ApiException e, HttpServletResponse response) {
        return error(response, e.status(), e.getMessage(), e.type(), e.param(), e.code());
    }

    @ExceptionHandler(SessionPoolExhaustedException.class)
    ResponseEntity<ObjectNode> exhausted(SessionPoolExhaustedException e, HttpServletResponse response) {
        return error(response, HttpStatus.SERVICE_UNAVAILABLE, "The server is busy: " + e.getMessage(), "server_error",
                null, "server_busy");
    }

    @ExceptionHandler(LlamaException.class)
    ResponseEntity<ObjectNode> llama(LlamaException e, HttpServletResponse response) {
        if (e.code() == ErrorCode.CONTEXT_OVERFLOW) {
            return error(response, HttpStatus.BAD_REQUEST, e.getMessage(), "invalid_request_error", null,
                    "context_length_exceeded");
        }
        if (e.code() == ErrorCode.INVALID_ARGUMENT || e.code() == ErrorCode.TOKENIZE || e.code() == ErrorCode.TEMPLATE) {
            return error(response, HttpStatus.BAD_REQUEST, e.getMessage(), "invalid_request_error", null,
                    e.code().name().toLowerCase(java.util.Locale.ROOT));
        }
        log.error("generation failed", e);
        return error(response, HttpStatus.INTERNAL_SERVER_ERROR, e.getMessage(), "server_error", null,
                e.code().name().toLowerCase(java.util.Locale.ROOT));
    }

    /** A client that went away during an event stream: its generation is cancelled, nothing to answer. */
    @ExceptionHandler(AsyncRequestNotUsableException.class)
    void clientGone(AsyncRequestNotUsableException e) {
        log.debug("client disconnected: " + e.getMessage());
    }

    /** Spring MVC's own errors (unknown path, wrong method or media type, ...) and anything unexpected. */
    @ExceptionHandler(Exception.class)
    ResponseEntity<ObjectNode> other(Exception e, HttpServletResponse response) {
        if (response.isCommitted()) {
            log.debug("error after the response started", e);
            return null;
        }
        if (e instanceof ErrorResponse) {
            HttpStatusCode status = ((ErrorResponse) e).getStatusCode();
            String detail = ((ErrorResponse) e).getBody().getDetail();
            return error(response, status, detail != null ? detail : e.getMessage(),
                    status.is4xxClientError() ? "invalid_request_error" : "server_error", null, null);
        }
        log.error("request failed", e);
        return error(response, HttpStatus.INTERNAL_SERVER_ERROR, "Internal error: " + e, "server_error", null, null);
    }

    private ResponseEntity<ObjectNode> error(HttpServletResponse response, HttpStatusCode status, String message,
            String type, String param, String code) {
        if (response.isCommitted()) {
            return null; // an event stream has started; its generation reports failures in the stream
        }
        return ResponseEntity.status(status).contentType(MediaType.APPLICATION_JSON)
                .body(OpenAiResponses.error(json, message, type, param, code));
    }
}
