package dev.llamaspec.examples.chat;

import dev.llamaspec.Generation;
import dev.llamaspec.LlamaException;
import dev.llamaspec.ModelInfo;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.reader.impl.completer.ArgumentCompleter;
import org.jline.reader.impl.completer.NullCompleter;
import org.jline.reader.impl.completer.StringsCompleter;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;

/**
 * The interactive loop: JLine reads lines (editing, history, completion of the slash commands),
 * replies stream to the terminal, Ctrl-C during a reply cancels it and Ctrl-C or Ctrl-D at the
 * prompt leaves.
 */
final class Interactive {
    static final String PROMPT = "> ";
    /**
     * JLine asks the terminal which modes it supports and waits this long (ms) for the answer, which
     * ends the wait as soon as it comes. JLine's default, 200 ms, can pass on a busy machine before the
     * answer arrives, and the late answer then lands in the line being typed.
     */
    static final String PROBE_TIMEOUT_MS = "2000";

    private final ChatEngine engine;
    private final Path historyFile;
    /** What to say at startup about the context size, or null (see {@link CliSupport#contextNote}). */
    private final String contextNote;
    /** Set by Ctrl-C while a reply runs; cleared before each prompt. */
    private final AtomicBoolean interrupted = new AtomicBoolean();

    Interactive(ChatEngine engine, Path historyFile, String contextNote) {
        this.engine = engine;
        this.historyFile = historyFile;
        this.contextNote = contextNote;
    }

    /** Runs until /quit, Ctrl-D or Ctrl-C at the prompt; returns the exit code. */
    int run() throws IOException {
        if (System.getProperty("org.jline.terminal.probe.timeout") == null) {
            System.setProperty("org.jline.terminal.probe.timeout", PROBE_TIMEOUT_MS);
        }
        try (Terminal terminal = TerminalBuilder.builder().name("llamaspec-chat").system(true).dumb(true).build()) {
            LineReaderBuilder builder = LineReaderBuilder.builder()
                    .terminal(terminal)
                    .appName("llamaspec-chat")
                    .completer(new ArgumentCompleter(new StringsCompleter(Commands.NAMES), NullCompleter.INSTANCE))
                    // a chat line is prose: "!" is not a history reference
                    .option(LineReader.Option.DISABLE_EVENT_EXPANSION, true);
            if (historyFile != null) {
                builder.variable(LineReader.HISTORY_FILE, historyFile.toAbsolutePath());
            }
            LineReader reader = builder.build();
            PrintWriter out = terminal.writer();
            // JLine swaps in its own handler while it reads a line (Ctrl-C there ends readLine);
            // at all other times Ctrl-C cancels the reply in progress.
            terminal.handle(Terminal.Signal.INT, signal -> {
                interrupted.set(true);
                engine.cancel();
            });
            Commands commands = new Commands(engine, out);
            out.println(banner());
            out.flush();
            while (true) {
                interrupted.set(false);
                String line;
                try {
                    line = reader.readLine(PROMPT);
                } catch (UserInterruptException | EndOfFileException e) {
                    break;
                }
                String text = line.strip();
                if (text.isEmpty()) {
                    continue;
                }
                if (text.startsWith("/") && !text.startsWith("//")) {
                    if (commands.run(text) == Commands.Result.QUIT) {
                        break;
                    }
                    continue;
                }
                reply(text.startsWith("//") ? text.substring(1) : text, out);
            }
            out.flush();
            if (historyFile != null) {
                reader.getHistory().save();
            }
        }
        return 0;
    }

    private void reply(String text, PrintWriter out) {
        ChatEngine.Reply reply;
        try {
            reply = engine.reply(text, chunk -> {
                out.print(chunk);
                out.flush();
            }, interrupted::get);
        } catch (LlamaException e) {
            out.println();
            out.println("error: " + e.getMessage());
            out.flush();
            return;
        }
        Generation g = reply.generation();
        if (!g.text().endsWith("\n")) {
            out.println();
        }
        switch (g.stopReason()) {
            case CANCELLED:
                out.println("[cancelled]");
                break;
            case CONTEXT_FULL:
                out.println("[the context is full: older exchanges will be left out, or /reset]");
                break;
            case GRAMMAR:
                out.println("[the grammar allows no further token]");
                break;
            default:
                break;
        }
        if (reply.droppedExchanges() > 0) {
            out.printf(Locale.ROOT,
                    "[left the oldest %d exchange%s out of the prompt to fit the context of %d tokens]%n",
                    reply.droppedExchanges(), reply.droppedExchanges() == 1 ? "" : "s", engine.contextSize());
        }
        out.flush();
    }

    private String banner() {
        ModelInfo info = engine.model().info();
        String name = info.name().isEmpty() ? engine.model().path().getFileName().toString() : info.name();
        String mode = engine.modeDescription();
        int cached = engine.cachedTokens();
        String resumed = cached == 0 ? "" : String.format(Locale.ROOT,
                "resumed: %d exchange%s, %d tokens in the KV cache%n", engine.conversation().exchanges().size(),
                engine.conversation().exchanges().size() == 1 ? "" : "s", cached);
        return String.format(Locale.ROOT, "llamaspec-chat: %s (%s), %s, speculation %s, context %d tokens%n%s%s"
                + "Type a line and press Enter. /help lists the commands; /quit or Ctrl-D leaves.",
                name, info.description(), mode, engine.speculation().describe(), engine.contextSize(),
                contextNote == null ? "" : "note: " + contextNote + "\n", resumed);
    }
}
