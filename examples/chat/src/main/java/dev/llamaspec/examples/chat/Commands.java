package dev.llamaspec.examples.chat;

import dev.llamaspec.Generation;
import dev.llamaspec.GenerationStats;
import dev.llamaspec.LlamaException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Locale;

/** The slash commands of the interactive mode. */
final class Commands {
    static final List<String> NAMES =
            List.of("/help", "/stats", "/spec", "/reset", "/system", "/save", "/save-session", "/quit", "/exit");

    static final String HELP = String.join("\n",
            "/help             this list",
            "/stats            statistics of the last reply: tokens, steps, tau (tokens per step),",
            "                  drafted and accepted tokens, acceptance, tokens/s, time to first token",
            "/spec [STRATEGY]  show or set the speculation: " + SpeculationChoice.NAMES,
            "/reset            forget the conversation (the system prompt stays)",
            "/system [TEXT]    show or set the system prompt",
            "/save FILE        write the conversation to FILE as JSON",
            "/save-session FILE  save the session (its KV cache and the conversation) to FILE;",
            "                  --session FILE resumes it without evaluating the conversation again",
            "/quit, /exit      leave (so do Ctrl-D and Ctrl-C at the prompt)",
            "Ctrl-C while a reply streams cancels the reply. A line starting with // is sent with one / removed.");

    enum Result { CONTINUE, QUIT }

    private final ChatEngine engine;
    private final PrintWriter out;

    Commands(ChatEngine engine, PrintWriter out) {
        this.engine = engine;
        this.out = out;
    }

    /** Runs one command line, e.g. {@code "/spec lookup"}. */
    Result run(String line) {
        String trimmed = line.strip();
        int space = trimmed.indexOf(' ');
        String name = (space < 0 ? trimmed : trimmed.substring(0, space)).toLowerCase(Locale.ROOT);
        String argument = space < 0 ? "" : trimmed.substring(space + 1).strip();
        switch (name) {
            case "/help":
                out.println(HELP);
                break;
            case "/stats":
                out.println(stats(engine.last(), engine.lastSpeculation()));
                break;
            case "/spec":
                spec(argument);
                break;
            case "/reset":
                engine.reset();
                out.println("conversation cleared");
                break;
            case "/system":
                system(argument);
                break;
            case "/save":
                save(argument);
                break;
            case "/save-session":
                saveSession(argument);
                break;
            case "/quit":
            case "/exit":
                return Result.QUIT;
            default:
                out.println("unknown command " + name + " (/help lists the commands)");
                break;
        }
        out.flush();
        return Result.CONTINUE;
    }

    /** What /stats prints for a reply made with the given speculation. */
    static String stats(Generation g, SpeculationChoice speculation) {
        if (g == null) {
            return "no reply yet";
        }
        GenerationStats s = g.stats();
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "last reply: %d tokens in %d steps, tau %.2f tokens per step, stop %s%n",
                s.generatedTokens(), s.steps(), s.tokensPerStep(), g.stopReason()));
        b.append("speculation ").append(speculation.describe()).append(": ");
        if (s.draftedTokens() > 0) {
            b.append(String.format(Locale.ROOT, "%d drafted, %d accepted, acceptance %.1f%%%n", s.draftedTokens(),
                    s.acceptedTokens(), 100.0 * s.acceptedTokens() / s.draftedTokens()));
        } else {
            b.append(String.format(Locale.ROOT, "nothing drafted, acceptance n/a%n"));
        }
        b.append(String.format(Locale.ROOT,
                "speed: %.1f tokens/s on %d threads, first token after %.1f ms; prompt %d tokens (%d reused) in %.1f ms",
                s.tokensPerSecond(), s.threads(), s.timeToFirstTokenMillis(), s.promptTokens(), s.reusedPromptTokens(),
                s.promptMillis()));
        return b.toString();
    }

    private void spec(String argument) {
        if (argument.isEmpty()) {
            out.println("speculation: " + engine.speculation().describe() + " (choices: " + SpeculationChoice.NAMES
                    + ")");
            return;
        }
        try {
            engine.setSpeculation(engine.speculation().withName(argument));
            out.println("speculation: " + engine.speculation().describe());
        } catch (IllegalArgumentException e) {
            out.println("error: " + e.getMessage());
        }
    }

    private void system(String argument) {
        if (argument.isEmpty()) {
            String current = engine.conversation().system();
            out.println(current.isEmpty() ? "no system prompt (/system TEXT sets one)" : "system prompt: " + current);
            return;
        }
        engine.conversation().setSystem(argument);
        out.println("system prompt set for the next replies");
    }

    private void save(String argument) {
        Path file = fileArgument("/save", argument);
        if (file == null) {
            return;
        }
        try {
            Json.write(file, Json.conversation(engine));
            out.println("saved " + engine.conversation().allMessages().size() + " messages to "
                    + file.toAbsolutePath());
        } catch (IOException e) {
            out.println("error: cannot save to " + file.toAbsolutePath() + ": " + reason(e));
        }
    }

    private void saveSession(String argument) {
        Path file = fileArgument("/save-session", argument);
        if (file == null) {
            return;
        }
        try {
            engine.saveSession(file);
            out.printf(Locale.ROOT, "saved the session (%d tokens in the KV cache, %d exchanges) to %s;"
                    + " --session %s resumes it%n", engine.cachedTokens(), engine.conversation().exchanges().size(),
                    file.toAbsolutePath(), argument);
        } catch (LlamaException e) {
            out.println("error: " + e.getMessage());
        }
    }

    /** The FILE argument of a command, or null after saying what is wrong with it. */
    private Path fileArgument(String command, String argument) {
        if (argument.isEmpty()) {
            out.println("usage: " + command + " FILE");
            return null;
        }
        try {
            return Paths.get(argument);
        } catch (InvalidPathException e) {
            out.println("error: not a file name: " + argument);
            return null;
        }
    }

    private static String reason(IOException e) {
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "no such directory";
        }
        if (e instanceof FileSystemException && ((FileSystemException) e).getReason() != null) {
            return ((FileSystemException) e).getReason();
        }
        return e.getMessage();
    }
}
