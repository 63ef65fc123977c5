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

// The "json" set's objects: a request after the story's first sentence, and the GBNF that
// JsonSchemaGrammar (java-api) makes of the object's JSON Schema, which is given above each grammar.
struct json_object_kind {
    const char * request;
    const char * grammar;
};

static const json_object_kind k_json_objects[] = {
    // {"type": "object", "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 20}, "age": {"type": "integer"}, "friends": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 20}, "maxItems": 3}}, "required": ["name", "age", "friends"]}
    {"\n\nThe main character of this story, as JSON:", R"GBNF(root ::= root-2
root-friends ::= "[" ws ( "\"" json-char{1,20} "\"" ( ws "," ws "\"" json-char{1,20} "\"" ){0,2} )? ws "]"
root-2 ::= "{" ws "\"name\"" ws ":" ws "\"" json-char{1,20} "\"" ws "," ws "\"age\"" ws ":" ws ( "-"? json-natural ) ws "," ws "\"friends\"" ws ":" ws root-friends ws "}"
ws ::= ( " " | "\n" [ ]{0,8} )?
json-char ::= [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
json-natural ::= "0" | [1-9] [0-9]{0,15})GBNF"},
    // {"type": "object", "properties": {"place": {"type": "string", "minLength": 1, "maxLength": 30}, "weather": {"enum": ["sunny", "rainy", "snowy", "windy"]}, "happy": {"type": "boolean"}}, "required": ["place", "weather", "happy"]}
    {"\n\nThe day in this story, as JSON:", R"GBNF(root ::= root-2
root-2 ::= "{" ws "\"place\"" ws ":" ws "\"" json-char{1,30} "\"" ws "," ws "\"weather\"" ws ":" ws ( "\"sunny\"" | "\"rainy\"" | "\"snowy\"" | "\"windy\"" ) ws "," ws "\"happy\"" ws ":" ws json-boolean ws "}"
ws ::= ( " " | "\n" [ ]{0,8} )?
json-char ::= [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
json-boolean ::= "true" | "false")GBNF"},
    // {"type": "array", "items": {"type": "object", "properties": {"animal": {"type": "string", "minLength": 1, "maxLength": 15}, "color": {"type": "string", "minLength": 1, "maxLength": 15}}, "required": ["animal", "color"]}, "minItems": 1, "maxItems": 4}
    {"\n\nThe animals in this story, as JSON:", R"GBNF(root ::= root-2
root-item ::= "{" ws "\"animal\"" ws ":" ws "\"" json-char{1,15} "\"" ws "," ws "\"color\"" ws ":" ws "\"" json-char{1,15} "\"" ws "}"
root-2 ::= "[" ws root-item ( ws "," ws root-item ){0,3} ws "]"
ws ::= ( " " | "\n" [ ]{0,8} )?
json-char ::= [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ))GBNF"},
};

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
    bench_prompt_set json{"json",
                          "the first sentence of a story and a request for a JSON object about it (3 schemas), "
                          "generated under the schema's grammar", {}, {}};
    // a long context: the stories after this one, then its first sentence (about 4,000 tokens of
    // stories260K's vocabulary; needs a context of 8,192)
    bench_prompt_set long_set{"long", "the 16 stories after a story, a blank line between each, then its first sentence: "
                                      "a long text before the continuation", {}};
    const int32_t k_long_stories = 16;
    for (int32_t i = first; i < first + n; i++) {
        const std::string & story = stories[(size_t) i];
        const std::string opening = cut_sentences(story, 1);
        openings.prompts.push_back(opening);
        repetitive.prompts.push_back(cut_sentences(story, 400) + "\n\n" + opening);
        const json_object_kind & kind = k_json_objects[(size_t) (i - first) % 3];
        json.prompts.push_back(opening + kind.request);
        json.grammars.push_back(kind.grammar);
        if (i + k_long_stories < (int32_t) stories.size()) {
            std::string text;
            for (int32_t j = 1; j <= k_long_stories; j++) text += stories[(size_t) (i + j)] + "\n\n";
            long_set.prompts.push_back(text + opening);
        }
    }
    sets = {openings, repetitive, json};
    if ((int32_t) long_set.prompts.size() == n) sets.push_back(long_set);
    return true;
}
