#include "bench-prompts.h"

#include <fstream>
#include <sstream>

static std::string trim(const std::string & s) {
    const size_t b = s.find_first_not_of(" \t\r\n");
    const size_t e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// Text up to and including the first sentence end after at least min_len characters.
static std::string cut_sentences(const std::string & story, size_t min_len) {
    size_t pos = min_len;
    while (pos < story.size()) {
        const size_t end = story.find_first_of(".!?", pos);
        if (end == std::string::npos) {
            break;
        }
        if (end + 1 == story.size() || story[end + 1] == ' ' || story[end + 1] == '\n') {
            return story.substr(0, end + 1);
        }
        pos = end + 1;
    }
    return story;
}

bool bench_prompts_load(const std::string & corpus_path, int32_t n, int32_t first,
                        std::vector<bench_prompt_set> & sets, std::string & error) {
    std::ifstream in(corpus_path, std::ios::binary);
    if (!in) {
        error = "cannot read the corpus " + corpus_path;
        return false;
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();

    std::vector<std::string> stories;
    const std::string sep = "<|endoftext|>";
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find(sep, start);
        if (end == std::string::npos) end = text.size();
        std::string story = trim(text.substr(start, end - start));
        // one paragraph per story: newlines inside a story become spaces
        for (char & c : story) {
            if (c == '\n') c = ' ';
        }
        if (story.size() > 80) {
            stories.push_back(story);
        }
        start = end + sep.size();
    }
    if ((int32_t) stories.size() < first + n) {
        error = "the corpus has " + std::to_string(stories.size()) + " stories, " + std::to_string(first + n) +
                " are needed";
        return false;
    }

    bench_prompt_set openings{"stories", "the first sentence of a story", {}};
    bench_prompt_set repetitive{"repetitive",
                                "a story, a blank line, and the story's first sentence again: the continuation "
                                "is likely to repeat text of the prompt", {}};
    for (int32_t i = first; i < first + n; i++) {
        const std::string & story = stories[(size_t) i];
        const std::string opening = cut_sentences(story, 1);
        openings.prompts.push_back(opening);
        repetitive.prompts.push_back(cut_sentences(story, 400) + "\n\n" + opening);
    }
    sets = {openings, repetitive};
    return true;
}
