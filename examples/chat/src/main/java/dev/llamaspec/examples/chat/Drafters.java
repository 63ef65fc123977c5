package dev.llamaspec.examples.chat;

import dev.llamaspec.LlamaModel;
import dev.llamaspec.MedusaHeads;
import dev.llamaspec.ModelOptions;
import dev.llamaspec.examples.chat.ChatEngine.Part;
import java.nio.file.Path;
import java.util.List;

/**
 * The Medusa heads ({@code --heads}) and the draft model ({@code --draft-model}) loaded once at
 * startup, so that {@code /spec medusa} and {@code /spec draft} can use them at any time. Either may be
 * absent (null). Closed with the chat, before the model they were loaded for.
 */
final class Drafters implements AutoCloseable {
    static final Drafters NONE = new Drafters(null, null);

    private final MedusaHeads heads;
    private final LlamaModel draftModel;

    Drafters(MedusaHeads heads, LlamaModel draftModel) {
        this.heads = heads;
        this.draftModel = draftModel;
    }

    /**
     * Loads the heads and the draft model given (null paths are skipped) for {@code model}, the draft model
     * with the model's options.
     *
     * @throws ChatEngine.OpenException when a file cannot be loaded (part HEADS or DRAFT_MODEL), the heads
     *     were made for another model (HEADS) or the draft model's vocabulary differs (DRAFT_MODEL); what
     *     was loaded is closed again
     */
    static Drafters load(LlamaModel model, Path headsFile, Path draftModelFile, ModelOptions options) {
        MedusaHeads heads = headsFile == null ? null
                : ChatEngine.OpenException.during(Part.HEADS, () -> MedusaHeads.load(model, headsFile));
        try {
            if (draftModelFile == null) {
                return new Drafters(heads, null);
            }
            LlamaModel draft = ChatEngine.OpenException.during(Part.DRAFT_MODEL,
                    () -> LlamaModel.load(draftModelFile, options.toBuilder().rpcServers(List.of()).build()));
            try {
                ChatEngine.OpenException.during(Part.DRAFT_MODEL, () -> {
                    model.checkDraftModel(draft);
                    return null;
                });
            } catch (RuntimeException e) {
                draft.close();
                throw e;
            }
            return new Drafters(heads, draft);
        } catch (RuntimeException e) {
            if (heads != null) {
                heads.close();
            }
            throw e;
        }
    }

    /** The heads, or null without {@code --heads}. */
    MedusaHeads heads() {
        return heads;
    }

    /** The draft model, or null without {@code --draft-model}. */
    LlamaModel draftModel() {
        return draftModel;
    }

    @Override
    public void close() {
        if (draftModel != null) {
            draftModel.close();
        }
        if (heads != null) {
            heads.close();
        }
    }
}
