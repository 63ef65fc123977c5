#!/usr/bin/env bash
# The body of ci/bench --contention, run inside the build root: tokens/s of plain decoding on a busy
# machine, with automatic threads (our default) and with the threads fixed at the number of cores
# (what every session used before automatic threads), in interleaved rounds:
#   alone;  with one competing busy process per core (llamaspec-loadbench starts and stops them);
#   2 and 4 of our own sessions generating at once (total tokens/s, and each session's share).
# Prints a Markdown table per model and writes it to build/bench/contention-MODEL.md (JSON of every
# run beside it).
#
#   ci/bench --contention [--models small,q4_0] [--rounds 3] [--seconds 10] [--tokens 128]
set -euo pipefail
{
models=small,q4_0 rounds=3 seconds=10 tokens=128
out=build/bench cache=/var/cache/llamaspec/models small=../shared/models/stories260K.gguf
while [ $# -gt 0 ]; do
    case "$1" in
        --contention) shift ;;
        --models) models=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --tokens) tokens=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "ci/bench --contention: unknown argument $1 (takes --models, --rounds, --seconds, --tokens)" >&2; exit 2 ;;
    esac
done
loadbench=$(ls "$LLAMASPEC_TOOLS"/*/llamaspec-loadbench 2>/dev/null | head -n 1)
[ -x "$loadbench" ] || { echo "ci/bench: llamaspec-loadbench not found under $LLAMASPEC_TOOLS" >&2; exit 127; }
scale_model=$(ls "$LLAMASPEC_TOOLS"/*/llamaspec-scale-model 2>/dev/null | head -n 1)
cores=$(nproc)
fixed=$(( cores < 8 ? cores : 8 ))
mkdir -p "$out" "$cache"

model_path() {
    case "$1" in
        small) echo "$small" ;;
        q4_0|q8_0)
            local f="$cache/stories260K-cost-2048x16-$1.gguf"
            if [ ! -f "$f" ]; then
                echo "building $f (once) ..." >&2
                "$scale_model" --input "$small" --output "$f.partial.$$" --hidden 2048 --ffn 5632 --layers 16 \
                    --quantize "$1" 2>/dev/null
                mv "$f.partial.$$" "$f"
            fi
            echo "$f" ;;
        *) echo "ci/bench --contention: --models takes small, q4_0, q8_0" >&2; exit 2 ;;
    esac
}

# config: LABEL SESSIONS BUSY THREADS
configs=("alone|1|0" "busy|1|$cores" "2 sessions|2|0" "4 sessions|4|0")

for m in ${models//,/ }; do
    path=$(model_path "$m")
    runs="$out/contention-$m.runs"
    : > "$runs"
    echo "== $m: $path, $cores cores, $rounds rounds of ${seconds} s per configuration" >&2
    for r in $(seq 1 "$rounds"); do
        for c in "${configs[@]}"; do
            IFS='|' read -r label sessions busy <<< "$c"
            for threads in 0 "$fixed"; do
                line=$("$loadbench" --model "$path" --sessions "$sessions" --busy "$busy" --threads "$threads" \
                       --seconds "$seconds" --tokens "$tokens" --json "$out/contention-run.json")
                echo "   round $r: $line" >&2
                # label|threads|total|min session tps|avg threads of the sessions
                awk -v label="$label" -v threads="$threads" -v n="$sessions" '
                    { if (match($0, /"total_tps": [0-9.]+/)) total = substr($0, RSTART + 13, RLENGTH - 13)
                      min = -1; avg = 0; line = $0
                      while (match(line, /"tps": [0-9.]+, "threads": [0-9.]+/)) {
                          split(substr(line, RSTART, RLENGTH), f, /[:,] */)
                          tps = f[2] + 0; th = f[4] + 0
                          if (min < 0 || tps < min) min = tps
                          avg += th / n
                          line = substr(line, RSTART + RLENGTH) } }
                    END { printf "%s|%s|%s|%s|%.2f\n", label, threads, total, min, avg }' "$out/contention-run.json" >> "$runs"
            done
        done
    done
    table="$out/contention-$m.md"
    {
        echo "### $m ($(basename "$path")), $cores cores, plain decoding, $rounds rounds of $seconds s, $(date -u +%Y-%m-%d)"
        echo
        echo "| | threads | tokens/s in all: median [min, max] | vs alone, same threads | slowest session's share of an equal split | threads used (mean) |"
        echo "|---|---|---|---|---|---|"
        awk -F'|' -v fixed="$fixed" '
            { key = $1 "|" $2; if (!(key in n)) order[++k] = key; v[key, ++n[key]] = $3; s[key, n[key]] = $4; th[key] += $5
              sessions[key] = ($1 ~ /sessions/) ? $1 + 0 : 1 }
            function sorted_median(key, arr,   i, j, t, a, m) {
                m = n[key]; for (i = 1; i <= m; i++) a[i] = arr[key, i] + 0
                for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                lo = a[1]; hi = a[m]
                return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
            END {
                for (i = 1; i <= k; i++) { key = order[i]; split(key, p, "|"); med[key] = sorted_median(key, v); l[key] = lo; h[key] = hi }
                for (i = 1; i <= k; i++) {
                    key = order[i]; split(key, p, "|")
                    alone = med["alone|" p[2]]
                    share = 0; for (j = 1; j <= n[key]; j++) { x = s[key, j] / (v[key, j] / sessions[key]); if (j == 1 || x < share) share = x }
                    printf "| %s | %s | %.1f [%.1f, %.1f] | %.2f | %s | %.2f |\n", p[1], (p[2] == 0 ? "automatic" : p[2] " (fixed)"),
                        med[key], l[key], h[key], med[key] / alone, (sessions[key] > 1 ? sprintf("%.2f", share) : "-"), th[key] / n[key] } }' "$runs"
    } > "$table"
    cat "$table"
    echo
done
rm -f "$out/contention-run.json"
exit 0
}
