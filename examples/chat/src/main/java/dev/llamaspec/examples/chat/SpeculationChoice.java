package dev.llamaspec.examples.chat;

import dev.llamaspec.LlamaModel;
import dev.llamaspec.MedusaHeads;
import dev.llamaspec.Speculation;
import dev.llamaspec.examples.cli.CliSupport;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * The speculation strategy chosen on the command line or with {@code /spec}, with the parameters of
 * {@code --max-draft}, {@code --no-budget}, {@code --lookahead}, {@code --static-tree} and
 * {@code --typical}. Immutable; every instance is valid (built through {@link #of}). The names are the
 * library's ({@link Speculation.Kind#parse}, {@link Speculation#parse}); medusa and the draft model need
 * what {@link Drafters} loaded at startup: {@link #speculation(Drafters)} says when it is missing.
 */
final class SpeculationChoice {
    /** The strategies' canonical names, the library's. */
    static final String NAMES = Arrays.stream(Speculation.Kind.values()).map(Speculation.Kind::canonicalName)
            .collect(Collectors.joining(", "));
    static final String NEEDS_HEADS = "speculation 'medusa' needs Medusa heads made for the model:"
            + " start llamaspec-chat with --heads FILE";
    static final String NEEDS_DRAFT_MODEL = "speculation 'draft' needs a draft model with the model's vocabulary:"
            + " start llamaspec-chat with --draft-model FILE";

    /** The flags of the parameters that the library's range checks name. */
    private static final Map<String, String> FLAGS = Map.of("maxDraftTokens", "--max-draft");

    /** Medusa's settings: the static tree instead of the dynamic one, and the lossy typical acceptance. */
    record MedusaSettings(boolean staticTree, boolean typical) {
        static final MedusaSettings DEFAULT = new MedusaSettings(false, false);
    }

    private final Speculation.Kind kind;
    private final Integer maxDraft;
    private final boolean budget;
    private final int[] lookahead;
    private final MedusaSettings medusa;
    /** The strategy, or null for medusa and draft, which are built with the drafters. */
    private final Speculation speculation;

    private SpeculationChoice(Speculation.Kind kind, Integer maxDraft, boolean budget, int[] lookahead,
            MedusaSettings medusa) {
        this.kind = kind;
        this.maxDraft = maxDraft;
        this.budget = budget;
        this.lookahead = lookahead;
        this.medusa = medusa;
        this.speculation = needsHeads() || needsDraftModel() ? null : build(null, null);
    }

    /**
     * @param name      a strategy as {@link Speculation#parse} reads it (none, lookup, recycling, lookahead,
     *                  auto, medusa, draft, and their aliases)
     * @param maxDraft  draft tokens per step, or null for the strategy's default
     * @param budget    whether the hardware-aware budget sizes each step
     * @param lookahead lookahead's {w, n, g}, or null for its defaults
     * @param medusa    Medusa's settings (used when medusa is chosen)
     * @throws IllegalArgumentException naming the problem: an unknown strategy or a parameter out of range
     */
    static SpeculationChoice of(String name, Integer maxDraft, boolean budget, int[] lookahead,
            MedusaSettings medusa) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(medusa, "medusa");
        Speculation.Kind kind = Speculation.Kind.parse(name.strip());
        // the parameters are checked even where this strategy does not use them, so that a later
        // /spec cannot fail on them
        if (maxDraft != null) {
            try {
                Speculation.none().withMaxDraftTokens(maxDraft);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(CliSupport.flagMessage(e, FLAGS), e);
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
        return new SpeculationChoice(kind, maxDraft, budget, lookahead == null ? null : lookahead.clone(), medusa);
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
        if (needsHeads() && drafters.heads() == null) {
            throw new IllegalArgumentException(NEEDS_HEADS);
        }
        if (needsDraftModel() && drafters.draftModel() == null) {
            throw new IllegalArgumentException(NEEDS_DRAFT_MODEL);
        }
        return build(drafters.heads(), drafters.draftModel());
    }

    /** {@link Speculation#parse} with this choice's parameters applied. */
    private Speculation build(MedusaHeads heads, LlamaModel draftModel) {
        Speculation s = Speculation.parse(kind.canonicalName(), heads, draftModel);
        if (s instanceof Speculation.Lookahead && lookahead != null) {
            s = Speculation.lookahead(lookahead[0], lookahead[1], lookahead[2]);
        }
        if (s instanceof Speculation.Medusa m) {
            m = m.withStaticTree(medusa.staticTree());
            s = medusa.typical() ? m.withLossyTypicalAcceptance() : m;
        }
        if (kind == Speculation.Kind.NONE) {
            return s;
        }
        return (maxDraft != null ? s.withMaxDraftTokens(maxDraft) : s).withBudget(budget);
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

    /** The strategy's canonical name, the library's ({@link Speculation.Kind#canonicalName()}). */
    String name() {
        return kind.canonicalName();
    }

    /** Whether this strategy needs the heads of {@code --heads}. */
    boolean needsHeads() {
        return kind == Speculation.Kind.MEDUSA;
    }

    /** Whether this strategy needs the model of {@code --draft-model}. */
    boolean needsDraftModel() {
        return kind == Speculation.Kind.DRAFT_MODEL;
    }

    /** One line for people, e.g. "lookahead (w 8, n 4, g 8; up to 32 draft tokens, budget on)". */
    String describe() {
        switch (kind) {
            case NONE:
                return name();
            case LOOKAHEAD:
                Speculation.Lookahead s = (Speculation.Lookahead) speculation;
                return "lookahead (w " + s.windowWidth() + ", n " + s.ngramSize() + ", g " + s.maxCandidates() + "; "
                        + limits() + ")";
            case MEDUSA:
                return "medusa (" + (medusa.staticTree() ? "static" : "dynamic") + " tree"
                        + (medusa.typical() ? ", LOSSY typical acceptance" : "") + "; " + limits() + ")";
            default:
                return name() + " (" + limits() + ")";
        }
    }

    private String limits() {
        // medusa and draft are built with the drafters: the library's default, the same for every strategy
        int tokens = speculation != null ? speculation.maxDraftTokens()
                : maxDraft != null ? maxDraft : Speculation.none().maxDraftTokens();
        return "up to " + tokens + " draft tokens, budget " + (budget ? "on" : "off");
    }

    @Override
    public String toString() {
        return describe();
    }
}
