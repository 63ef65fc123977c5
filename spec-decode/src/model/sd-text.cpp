#include "model/sd-text.h"

void sd_text_stream_reset(sd_text_stream & stream, const std::vector<std::string> & stop) {
    stream.stop.clear();
    for (const std::string & s : stop) {
        if (!s.empty()) {
            stream.stop.push_back(s);
        }
    }
    stream.pending.clear();
    stream.stopped = false;
}

size_t sd_utf8_complete_prefix(const std::string & s) {
    const size_t n = s.size();
    // Look at most 3 bytes back for the lead byte of the last sequence.
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        const unsigned char c = (unsigned char) s[n - back];
        if ((c & 0xC0) == 0x80) {
            continue; // continuation byte
        }
        size_t len = 1;
        if      ((c & 0xE0) == 0xC0) len = 2;
        else if ((c & 0xF0) == 0xE0) len = 3;
        else if ((c & 0xF8) == 0xF0) len = 4;
        return back < len ? n - back : n;
    }
    return n; // only continuation bytes: invalid UTF-8, nothing to wait for
}

// Length of the longest suffix of text that is a proper prefix of a stop string.
static size_t stop_prefix_suffix(const std::vector<std::string> & stop, const std::string & text) {
    size_t best = 0;
    for (const std::string & s : stop) {
        const size_t max_len = std::min(s.size() - 1, text.size());
        for (size_t len = max_len; len > best; len--) {
            if (text.compare(text.size() - len, len, s, 0, len) == 0) {
                best = len;
                break;
            }
        }
    }
    return best;
}

bool sd_text_stream_push(sd_text_stream & stream, const std::string & piece, std::string & out) {
    if (stream.stopped) {
        return true;
    }
    stream.pending += piece;

    size_t first = std::string::npos;
    for (const std::string & s : stream.stop) {
        first = std::min(first, stream.pending.find(s));
    }
    if (first != std::string::npos) {
        out.append(stream.pending, 0, first);
        stream.pending.clear();
        stream.stopped = true;
        return true;
    }

    size_t keep_from = stream.pending.size() - stop_prefix_suffix(stream.stop, stream.pending);
    keep_from = std::min(keep_from, sd_utf8_complete_prefix(stream.pending));
    out.append(stream.pending, 0, keep_from);
    stream.pending.erase(0, keep_from);
    return false;
}

void sd_text_stream_flush(sd_text_stream & stream, std::string & out) {
    if (!stream.stopped) {
        out += stream.pending;
    }
    stream.pending.clear();
}
