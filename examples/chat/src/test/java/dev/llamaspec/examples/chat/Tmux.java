package dev.llamaspec.examples.chat;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A program in a tmux pane (a real pseudo-terminal): keys go in with send-keys, the screen comes
 * back with capture-pane. The pane stays after the program ends, so that its exit status can be read.
 */
final class Tmux implements AutoCloseable {
    static final int WIDTH = 160;

    private final Path socket;

    /** Starts {@code command} (run directly, no shell) in a new detached session of a private tmux server. */
    Tmux(Path dir, Path workingDirectory, List<String> command) throws IOException, InterruptedException {
        this.socket = dir.resolve("tmux.sock");
        Path conf = dir.resolve("tmux.conf");
        Files.writeString(conf, "set -g remain-on-exit on\nset -g history-limit 20000\n");
        List<String> args = new ArrayList<>(List.of("-f", conf.toString(), "new-session", "-d", "-s", "chat",
                "-x", String.valueOf(WIDTH), "-y", "50", "-c", workingDirectory.toString(), "--"));
        args.addAll(command);
        tmux(args);
    }

    /** The whole pane, scrollback included, wrapped lines joined, trailing spaces removed. */
    String screen() throws IOException, InterruptedException {
        return tmux(List.of("capture-pane", "-p", "-J", "-S", "-", "-t", "chat"));
    }

    /** Types a line and presses Enter. */
    void typeLine(String text) throws IOException, InterruptedException {
        tmux(List.of("send-keys", "-t", "chat", "-l", text));
        tmux(List.of("send-keys", "-t", "chat", "Enter"));
    }

    /** Presses keys as tmux names them, e.g. C-c. */
    void keys(String... keys) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("send-keys", "-t", "chat"));
        args.addAll(List.of(keys));
        tmux(args);
    }

    /** Whether the program has ended. */
    boolean ended() throws IOException, InterruptedException {
        return tmux(List.of("display-message", "-p", "-t", "chat", "#{pane_dead}")).strip().equals("1");
    }

    int exitStatus() throws IOException, InterruptedException {
        return Integer.parseInt(tmux(List.of("display-message", "-p", "-t", "chat", "#{pane_dead_status}")).strip());
    }

    /** Polls the screen until {@code condition} holds; fails with the screen after {@code timeout}. */
    String waitFor(String what, Duration timeout, Predicate<String> condition)
            throws IOException, InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        String screen;
        while (true) {
            screen = screen();
            if (condition.test(screen)) {
                return screen;
            }
            if (System.nanoTime() > end) {
                fail("timed out after " + timeout.toSeconds() + " s waiting for " + what + "; the screen:\n" + screen);
            }
            Thread.sleep(20);
        }
    }

    /** Waits for the program to end and returns its exit status. */
    int waitForExit(Duration timeout) throws IOException, InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (!ended()) {
            if (System.nanoTime() > end) {
                fail("the program did not end within " + timeout.toSeconds() + " s; the screen:\n" + screen());
            }
            Thread.sleep(20);
        }
        return exitStatus();
    }

    /** The last line with text on the screen. */
    static String lastLine(String screen) {
        String[] lines = screen.split("\n");
        for (int i = lines.length - 1; i >= 0; i--) {
            if (!lines[i].isBlank()) {
                return lines[i].stripTrailing();
            }
        }
        return "";
    }

    @Override
    public void close() throws IOException, InterruptedException {
        tmux(List.of("kill-server"));
    }

    private String tmux(List<String> args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("tmux", "-S", socket.toString()));
        command.addAll(args);
        Process p;
        try {
            p = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new IOException("cannot run tmux (ci/lib/buildroot.sh installs it in the build root): "
                    + e.getMessage(), e);
        }
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("tmux " + args + " hung");
        }
        String text = new String(out, StandardCharsets.UTF_8);
        if (p.exitValue() != 0 && !args.get(0).equals("kill-server")) {
            throw new IOException("tmux " + args + " failed (" + p.exitValue() + "): " + text);
        }
        return text;
    }
}
