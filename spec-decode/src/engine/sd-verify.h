// The verifier: the one place where drafts meet the target model.
//
// A step evaluates the current token (the root) together with the step's draft tree and the
// drafter's auxiliary tokens in one llama_decode: every root-to-leaf path of the tree is a sequence,
// a node belongs to the sequences of the leaves below it, positions follow depth, and each auxiliary
// column is a sequence of its own. The verifier then walks the tree from the root, accepting a child
// where the target distribution allows it (engine/sd-accept.h: exact unless typical acceptance was
// asked for), shows the drafter what the target predicted, and commits the KV cache: sequence 0
// keeps the root and the accepted path, nothing else.
#pragma once

#include "engine/sd-session.h"

// Verifies the step's tree (s->gen.tree, s->gen.aux). Appends the produced tokens to `out` (the
// accepted nodes, then the bonus token drawn after them) and leaves the bonus token in s->gen.last.
// *cancelled is set (and nothing produced) when the decode was aborted by a cancellation.
sd_status sd_verify_step(sd_session * s, std::vector<llama_token> & out, bool * cancelled, std::string & error);
