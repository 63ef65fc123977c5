package dev.llamaspec.examples.chat;

import dev.llamaspec.Speculation;
import java.util.Locale;
import java.util.Objects;

/**
 * The speculation strategy chosen on the command line or with {@code /spec}, with the parameters of
 * {@code --max-draft}, {@code --no-budget}, {@code --lookahead}, {@code --static-tree} and
 * {@code --typical}. Immutable; every instance is valid (built through {@link #of}). Medusa and the
 * draft model need what {@link Drafters} loaded at startup: {@link #speculation(Drafters)} says when it
 * is missing.
 */
final class SpeculationChoice {
    static final String NAMES = "none, lookup, recycling, lookahead, auto, medusa, draft";
    static final String NEEDS_HEADS = "speculation 'medusa' needs Medusa heads made for the model:"
            + " start llamaspec-chat with --heads FILE";
    static final String NEEDS_DRAFT_MODEL = "speculation 'draft' needs a draft model with the model's vocabulary:"
            + " start llamaspec-chat with --draft-model FILE";

    /** Medusa's settings: the static tree instead of the dynamic one, and the lossy typical acceptance. */
    record MedusaSettings(boolean staticTree, boolean typical) {
        static final MedusaSettings DEFAULT = new MedusaSettings(false, false);
    }

    /** Medusa's defaults for the typical acceptance (Cai et al. 2024). */
    static final float TYPICAL_THRESHOLD = 0.09f;
    static final float TYPICAL_ALPHA = 0.3f;

    private final String name;
    private final Integer maxDraft;
    private final boolean budget;
    private final int[] lookahead;
    private final MedusaSettings medusa;
    /** The strategy, or null for medusa and draft, which are built from the drafters. */
    private final Speculation speculation;

    private SpeculationChoice(String name, Integer maxDraft, boolean budget, int[] lookahead, MedusaSettings medusa,
            Speculation speculation) {
        this.name = name;
        this.maxDraft = maxDraft;
        this.budget = budget;
        this.lookahead = lookahead;
        this.medusa = medusa;
        this.speculation = speculation;
    }

    /**
     * @param name      a strategy as {@link Speculation#parse} reads it, or medusa, draft (draft-model)
     * @param maxDraft  draft tokens per step (1 to 64), or null for the strategy's default
     * @param budget    whether the hardware-aware budget sizes each step
     * @param lookahead lookahead's {w, n, g}, or null for its defaults
     * @param medusa    Medusa's settings (used when medusa is chosen)
     * @throws IllegalArgumentException naming the problem: an unknown strategy or a parameter out of range
     */
    static SpeculationChoice of(String name, Integer maxDraft, boolean budget, int[] lookahead,
            MedusaSettings medusa) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(medusa, "medusa");
        String key = name.strip().toLowerCase(Locale.ROOT);
        Speculation parsed;
        switch (key) {
            case "medusa":
                parsed = null;
                break;
            case "draft":
            case "draft-model":
                key = "draft";
                parsed = null;
                break;
            default:
                try {
                    parsed = Speculation.parse(key);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("unknown speculation '" + name + "'; choose one of " + NAMES, e);
                }
                key = canonicalName(parsed.kind());
                break;
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
        if (spec != null && spec.kind() == Speculation.Kind.LOOKAHEAD && lookahead != null) {
            spec = Speculation.lookahead(lookahead[0], lookahead[1], lookahead[2]);
        }
        return new SpeculationChoice(key, maxDraft, budget, lookahead == null ? null : lookahead.clone(), medusa,
                spec == null ? null : withLimits(spec, maxDraft, budget));
    }

    /** The same parameters with another strategy. */
    SpeculationChoice withName(String newName) {
        return of(newName, maxDraft, budget, lookahead, medusa);
    }

    /**
     * The strategy to generate with, medusa and draft with the heads or draft model of {@code drafters}.
     *
     * @throws IllegalArgumentException ({@link #NEEDS_HEADS}, {@link #NEEDS_DRAFT_MODEL}) when the
     *     drafters lack what this strategy needs
     */
    Speculation speculation(Drafters drafters) {
        if (speculation != null) {
            return speculation;
        }
        if (name.equals("medusa")) {
            if (drafters.heads() == null) {
                throw new IllegalArgumentException(NEEDS_HEADS);
            }
            Speculation s = Speculation.medusa(drafters.heads()).withStaticTree(medusa.staticTree());
            s = medusa.typical() ? s.withLossyTypicalAcceptance(TYPICAL_THRESHOLD, TYPICAL_ALPHA) : s;
            return withLimits(s, maxDraft, budget);
        }
        if (drafters.draftModel() == null) {
            throw new IllegalArgumentException(NEEDS_DRAFT_MODEL);
        }
        return withLimits(Speculation.draftModel(drafters.draftModel()), maxDraft, budget);
    }

    private static Speculation withLimits(Speculation spec, Integer maxDraft, boolean budget) {
        if (spec.kind() == Speculation.Kind.NONE) {
            return spec;
        }
        return (maxDraft != null ? spec.withMaxDraftTokens(maxDraft) : spec).withBudget(budget);
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

    /** Whether this strategy needs the heads of {@code --heads}. */
    boolean needsHeads() {
        return name.equals("medusa");
    }

    /** Whether this strategy needs the model of {@code --draft-model}. */
    boolean needsDraftModel() {
        return name.equals("draft");
    }

    /** One line for people, e.g. "lookahead (w 8, n 4, g 8; up to 32 draft tokens, budget on)". */
    String describe() {
        switch (name) {
            case "none":
                return "none";
            case "lookahead":
                Speculation.Lookahead s = (Speculation.Lookahead) speculation;
                return "lookahead (w " + s.windowWidth() + ", n " + s.ngramSize() + ", g " + s.maxCandidates() + "; "
                        + limits() + ")";
            case "medusa":
                return "medusa (" + (medusa.staticTree() ? "static" : "dynamic") + " tree"
                        + (medusa.typical() ? ", LOSSY typical acceptance" : "") + "; " + limits() + ")";
            default:
                return name + " (" + limits() + ")";
        }
    }

    private String limits() {
        return "up to " + (maxDraft != null ? maxDraft : Speculation.auto().maxDraftTokens()) + " draft tokens, budget "
                + (budget ? "on" : "off");
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
