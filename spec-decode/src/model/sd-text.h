// Turns the pieces of generated tokens into text that is safe to hand out as it is produced:
// whole UTF-8 sequences only, and never any part of a stop string.
#pragma once

#include <string>
#include <vector>

struct sd_text_stream {
    std::vector<std::string> stop;    // stop strings (empty ones are ignored)
    std::string              pending; // bytes held back: an unfinished UTF-8 sequence or a possible stop prefix
    bool                     stopped = false;
};

void sd_text_stream_reset(sd_text_stream & stream, const std::vector<std::string> & stop);

// Appends a token's piece. Text that can no longer become part of a stop string is appended to out.
// Returns true when a stop string is complete: the text before it has been appended, the rest of
// the stream is dropped.
bool sd_text_stream_push(sd_text_stream & stream, const std::string & piece, std::string & out);

// End of generation: appends what is still held back (a possible stop prefix that never completed).
void sd_text_stream_flush(sd_text_stream & stream, std::string & out);

// Length of the longest prefix of s that does not end inside an unfinished UTF-8 sequence.
size_t sd_utf8_complete_prefix(const std::string & s);
