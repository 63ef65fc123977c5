package dev.llamaspec.spring.demo;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.springframework.http.MediaType;
import org.springframework.http.server.ServerHttpResponse;
import org.springframework.web.servlet.mvc.method.annotation.ResponseBodyEmitter;

/**
 * A {@code text/event-stream} response whose events are OpenAI's {@code data: ...} lines, with the
 * space after the colon that OpenAI's streams have ({@code SseEmitter} writes {@code data:...}).
 */
final class EventStream extends ResponseBodyEmitter {
    private static final MediaType UTF8_TEXT = new MediaType("text", "plain", StandardCharsets.UTF_8);

    /** One event: {@code data: <data>} and a blank line. */
    void sendData(String data) throws IOException {
        send("data: " + data + "\n\n", UTF8_TEXT);
    }

    @Override
    protected void extendResponse(ServerHttpResponse response) {
        super.extendResponse(response);
        response.getHeaders().setContentType(new MediaType(MediaType.TEXT_EVENT_STREAM, StandardCharsets.UTF_8));
        response.getHeaders().setCacheControl("no-cache");
        response.getHeaders().set("X-Accel-Buffering", "no"); // proxies: do not buffer the stream
    }
}
