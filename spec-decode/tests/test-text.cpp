// Stop strings and UTF-8 boundaries of the text stream, piece by piece.
#include "model/sd-text.h"
#include "sd-test.h"

// Feeds pieces one by one; returns everything emitted, and whether a stop string matched.
static std::string run(const std::vector<std::string> & stop, const std::vector<std::string> & pieces, bool * stopped,
                       size_t * n_pushed = nullptr) {
    sd_text_stream stream;
    sd_text_stream_reset(stream, stop);
    std::string out;
    *stopped = false;
    size_t n = 0;
    for (const std::string & piece : pieces) {
        n++;
        if (sd_text_stream_push(stream, piece, out)) {
            *stopped = true;
            break;
        }
    }
    sd_text_stream_flush(stream, out);
    if (n_pushed != nullptr) *n_pushed = n;
    return out;
}

int main() {
    bool stopped = false;

    // No stop strings: text passes through unchanged.
    CHECK_EQ_STR(run({}, {" Once", " upon", " a", " time"}, &stopped), " Once upon a time");
    CHECK(!stopped);

    // A stop string inside one piece cuts exactly before it.
    CHECK_EQ_STR(run({"time"}, {" Once", " upon", " a", " time", " there"}, &stopped), " Once upon a ");
    CHECK(stopped);

    // A stop string split across pieces is still found, and nothing of it is emitted early.
    {
        sd_text_stream stream;
        sd_text_stream_reset(stream, {"\n\n"});
        std::string out;
        CHECK(!sd_text_stream_push(stream, "end.\n", out));
        CHECK_EQ_STR(out, "end.");          // "\n" is held back: it may start "\n\n"
        CHECK(sd_text_stream_push(stream, "\nNext", out));
        CHECK_EQ_STR(out, "end.");
    }

    // A held-back prefix that does not complete is released later.
    CHECK_EQ_STR(run({"Lily's"}, {"Lily", " went"}, &stopped), "Lily went");
    CHECK(!stopped);

    // A prefix that completes only at the end of generation is flushed as text.
    CHECK_EQ_STR(run({"The End"}, {"story. The"}, &stopped), "story. The");

    // The earliest of several stop strings wins.
    size_t n_pushed = 0;
    CHECK_EQ_STR(run({"b", "a"}, {"xxabyy"}, &stopped, &n_pushed), "xx");
    CHECK(stopped && n_pushed == 1);

    // A stop string that completes ends the text even where a longer one that started earlier would
    // have completed later: generation stops at the first stop string to complete (found by
    // ci/fuzz; the fuzz target's oracle had assumed the whole text was known in advance).
    CHECK_EQ_STR(run({"\t", "\xb0\xb0\t\x01\x01"}, {"x\xf7\xb0\xb0", "\t", "\x01\x01"}, &stopped, &n_pushed),
                 "x\xf7\xb0\xb0");
    CHECK(stopped && n_pushed == 2);

    // Empty stop strings are ignored.
    CHECK_EQ_STR(run({""}, {"abc"}, &stopped), "abc");
    CHECK(!stopped);

    // UTF-8: a character split over two pieces is emitted whole.
    {
        sd_text_stream stream;
        sd_text_stream_reset(stream, {});
        std::string out;
        const std::string e_acute = "\xC3\xA9";
        sd_text_stream_push(stream, "caf" + e_acute.substr(0, 1), out);
        CHECK_EQ_STR(out, "caf");
        sd_text_stream_push(stream, e_acute.substr(1), out);
        CHECK_EQ_STR(out, "caf" + e_acute);
    }
    // A four-byte character split 1 + 3.
    {
        const std::string emoji = "\xF0\x9F\x98\x80";
        CHECK_EQ_STR(run({}, {emoji.substr(0, 1), emoji.substr(1)}, &stopped), emoji);
        CHECK(sd_utf8_complete_prefix("a" + emoji.substr(0, 3)) == 1);
        CHECK(sd_utf8_complete_prefix("a" + emoji) == 5);
    }
    // A stop string with non-ASCII text.
    CHECK_EQ_STR(run({"\xC3\xA9t\xC3\xA9"}, {"un \xC3", "\xA9t", "\xC3\xA9 chaud"}, &stopped), "un ");
    CHECK(stopped);

    return sd_test_finish("test-text");
}
