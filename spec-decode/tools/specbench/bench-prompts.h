// The prompt sets of specbench, drawn from a TinyStories-style corpus (stories separated by
// "<|endoftext|>" lines).
#pragma once

#include <string>
#include <vector>

struct bench_prompt_set {
    std::string              name;        // "stories", "repetitive"
    std::string              description;
    std::vector<std::string> prompts;
    std::vector<std::string> grammars;    // GBNF each prompt generates under; empty: none (or --grammar's)
};

// "stories": the first sentence of n stories, starting at story `first`.
// "repetitive": a story of up to ~400 characters followed by a blank line and the story's first
// sentence again, so that the continuation is likely to repeat text from the prompt.
// "json": the first sentence of a story and a request for one of three JSON objects about it (its
// main character, its day, its animals), each generated under the GBNF that llamaspec's JSON Schema
// converter makes of that object's schema.
// Returns false (with error) when the corpus cannot be read or has too few stories.
bool bench_prompts_load(const std::string & corpus_path, int32_t n, int32_t first,
                        std::vector<bench_prompt_set> & sets, std::string & error);
