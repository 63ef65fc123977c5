// The text stream that turns token pieces into output: arbitrary bytes in arbitrary pieces, with
// arbitrary stop strings. Checks: the stream stops exactly after the first piece that completes a stop
// string, and what comes out is the input up to where that stop string begins, byte for byte (so no
// stop string is ever in it and no byte is lost or changed).
#include "model/sd-text.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

// Input layout: byte 0 = number of stop strings (0..3); each stop string: a length byte (0..7) and
// its bytes; the rest is the text, cut into pieces by the byte 0xFF's position pattern: a piece ends
// after every byte whose low 3 bits are 0.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    size_t i = 0;
    std::vector<std::string> stop;
    const int n_stop = size > 0 ? data[i++] % 4 : 0;
    for (int k = 0; k < n_stop && i < size; k++) {
        const size_t len = data[i++] % 8;
        std::string s;
        for (size_t j = 0; j < len && i < size; j++) s += (char) data[i++];
        stop.push_back(s);
    }
    const std::string text(reinterpret_cast<const char *>(data + i), size - i);

    sd_text_stream stream;
    sd_text_stream_reset(stream, stop);
    std::string out;
    bool stopped = false;
    std::string piece;
    size_t seen = 0;              // bytes pushed so far
    size_t cut = std::string::npos; // where the expected output ends
    for (size_t j = 0; j < text.size() && !stopped; j++) {
        piece += text[j];
        if ((text[j] & 7) == 0 || j + 1 == text.size()) {
            stopped = sd_text_stream_push(stream, piece, out);
            seen = j + 1;
            piece.clear();
            // The stream stops after the first piece that completes a stop string; the output ends
            // where the earliest stop string complete in the text seen so far begins (a longer one
            // that would only complete later never does: generation ends here).
            for (const std::string & s : stop) {
                if (s.empty()) continue;
                const size_t at = text.substr(0, seen).find(s);
                if (at != std::string::npos) cut = std::min(cut, at);
            }
            if ((cut != std::string::npos) != stopped) std::abort();
        }
    }
    if (!stopped) sd_text_stream_flush(stream, out);
    if (out != text.substr(0, cut == std::string::npos ? text.size() : cut)) std::abort();
    return 0;
}
