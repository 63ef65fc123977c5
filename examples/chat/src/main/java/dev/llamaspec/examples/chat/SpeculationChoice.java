package dev.llamaspec.examples.chat;

import dev.llamaspec.Speculation;
import java.util.Locale;
import java.util.Objects;

/**
 * The speculation strategy chosen on the command line or with {@code /spec}, with the parameters of
 * {@code --max-draft}, {@code --no-budget} and {@code --lookahead}. Immutable; every instance is valid
 * (built through {@link #of}).
 */
final class SpeculationChoice {
    static final String NAMES = "none, lookup, recycling, lookahead, auto";

    private final String name;
    private final Integer maxDraft;
    private final boolean budget;
    private final int[] lookahead;
    private final Speculation speculation;

    private SpeculationChoice(String name, Integer maxDraft, boolean budget, int[] lookahead, Speculation speculation) {
        this.name = name;
        this.maxDraft = maxDraft;
        this.budget = budget;
        this.lookahead = lookahead;
        this.speculation = speculation;
    }

    /**
     * @param name      a strategy as {@link Speculation#parse} reads it
     * @param maxDraft  draft tokens per step (1 to 64), or null for the strategy's default
     * @param budget    whether the hardware-aware budget sizes each step
     * @param lookahead lookahead's {w, n, g}, or null for its defaults
     * @throws IllegalArgumentException naming the problem: an unknown strategy, one that is not built
     *     yet (medusa, draft), or a parameter out of range
     */
    static SpeculationChoice of(String name, Integer maxDraft, boolean budget, int[] lookahead) {
        Objects.requireNonNull(name, "name");
        String key = name.strip().toLowerCase(Locale.ROOT);
        switch (key) {
            case "medusa":
                throw new IllegalArgumentException("speculation 'medusa' is not built yet in llamaspec (Medusa heads"
                        + " are planned); choose one of " + NAMES);
            case "draft":
            case "draft-model":
                throw new IllegalArgumentException("speculation '" + key + "' (a draft model) is not built yet in"
                        + " llamaspec; choose one of " + NAMES);
            default:
                break;
        }
        Speculation parsed;
        try {
            parsed = Speculation.parse(key);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown speculation '" + name + "'; choose one of " + NAMES, e);
        }
        // the parameters are checked even where this strategy does not use them, so that a later
        // /spec cannot fail on them
        if (maxDraft != null) {
            try {
                Speculation.promptLookup().withMaxDraftTokens(maxDraft);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--max-draft must be in [1, 64], got " + maxDraft, e);
            }
        }
        if (lookahead != null) {
            if (lookahead.length != 3) {
                throw new IllegalArgumentException("--lookahead takes three numbers W,N,G");
            }
            try {
                Speculation.lookahead(lookahead[0], lookahead[1], lookahead[2]);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--lookahead: " + e.getMessage(), e);
            }
        }
        Speculation spec = parsed;
        if (spec.kind() == Speculation.Kind.LOOKAHEAD && lookahead != null) {
            spec = Speculation.lookahead(lookahead[0], lookahead[1], lookahead[2]);
        }
        if (spec.kind() != Speculation.Kind.NONE) {
            if (maxDraft != null) {
                spec = spec.withMaxDraftTokens(maxDraft);
            }
            spec = spec.withBudget(budget);
        }
        return new SpeculationChoice(canonicalName(spec.kind()), maxDraft, budget,
                lookahead == null ? null : lookahead.clone(), spec);
    }

    /** The same parameters with another strategy. */
    SpeculationChoice withName(String newName) {
        return of(newName, maxDraft, budget, lookahead);
    }

    /** Parses {@code W,N,G} as given to {@code --lookahead}. */
    static int[] parseLookahead(String text) {
        String[] parts = text.split(",", -1);
        if (parts.length != 3) {
            throw new IllegalArgumentException("--lookahead takes W,N,G (window width, n-gram size, candidates per"
                    + " step), e.g. 8,4,8; got '" + text + "'");
        }
        int[] values = new int[3];
        for (int i = 0; i < 3; i++) {
            try {
                values[i] = Integer.parseInt(parts[i].strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--lookahead takes W,N,G as three whole numbers, e.g. 8,4,8; got '"
                        + text + "'");
            }
        }
        return values;
    }

    String name() {
        return name;
    }

    Speculation speculation() {
        return speculation;
    }

    /** One line for people, e.g. "lookahead (w 8, n 4, g 8; up to 32 draft tokens, budget on)". */
    String describe() {
        Speculation s = speculation;
        switch (s.kind()) {
            case NONE:
                return "none";
            case LOOKAHEAD:
                return "lookahead (w " + s.windowWidth() + ", n " + s.ngramSize() + ", g " + s.maxCandidates() + "; "
                        + limits() + ")";
            default:
                return name + " (" + limits() + ")";
        }
    }

    private String limits() {
        return "up to " + speculation.maxDraftTokens() + " draft tokens, budget " + (budget ? "on" : "off");
    }

    private static String canonicalName(Speculation.Kind kind) {
        switch (kind) {
            case NONE: return "none";
            case PROMPT_LOOKUP: return "lookup";
            case TOKEN_RECYCLING: return "recycling";
            case LOOKAHEAD: return "lookahead";
            default: return "auto";
        }
    }

    @Override
    public String toString() {
        return describe();
    }
}
