#!/usr/bin/env bash
# The body of ci/bench, run where the tools are (inside the build root, or on another machine with
# ci/bench-bundle's tools): builds the bench models and drafters once into a cache, runs specbench
# (greedy and sampled), llama.cpp's own tools on the same model, prompts, drafters and threads, the
# Java SpecBench, and joins everything into one table per model. Options: see ci/bench.
#
# Where the tools are:
#   LLAMASPEC_TOOLS     our build's tools folder (spec-decode/tools of a CMake build), or
#   LLAMASPEC_RUN_TOOL  a command that runs one of our tools by name (ci/bench-bundle's run-tool)
#   LLAMA_CPP_BIN       the folder of llama-bench, llama-speculative-simple, llama-lookup (default: PATH)
#   LLAMASPEC_BENCH_JAR the Java benchmarks' jar (no Java step when it is missing or with --no-java)
set -euo pipefail
# One compound command, read whole before it starts: editing this file during a run cannot change it.
{
strategies=plain,lookup,recycling,auto prompts=20 tokens=128 models=both threads=2
flash_attn=${LLAMASPEC_BENCH_FLASH_ATTN:-default} temperature=0.8 seed=42 n_max_list=2,3,4,8
agreement_band=0.70,0.80 drafter_seed=1 reps=5 java=1 heads_minutes=0 early_exit=2 load_mode=mmap
out=build/bench cache=/var/cache/llamaspec/models
small=../shared/models/stories260K.gguf corpus=../shared/corpus/tinystories_train_sample.txt
hidden=2048 ffn=5632 layers=16 head_dim=0 ctx=2048 positions=4096
while [ $# -gt 0 ]; do
    case "$1" in
        --strategies) strategies=$2; shift 2 ;;
        --prompts) prompts=$2; shift 2 ;;
        --tokens) tokens=$2; shift 2 ;;
        --models) models=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --flash-attn) flash_attn=$2; shift 2 ;;
        --load-mode) load_mode=$2; shift 2 ;;
        --temperature) temperature=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --n-max) n_max_list=$2; shift 2 ;;
        --agreement) agreement_band=$2; shift 2 ;;
        --drafter-seed) drafter_seed=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --heads-minutes) heads_minutes=$2; shift 2 ;;
        --early-exit) early_exit=$2; shift 2 ;;
        --head-dim) head_dim=$2; shift 2 ;;
        --quick) prompts=2 tokens=32 reps=2; shift ;;
        --no-java) java=0; shift ;;
        --out) out=$2; shift 2 ;;
        --cache) cache=$2; shift 2 ;;
        --small) small=$2; shift 2 ;;
        --corpus) corpus=$2; shift 2 ;;
        *) echo "ci/bench: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$flash_attn" in on|off|auto|default) ;; *) echo "ci/bench: --flash-attn on|off|auto|default" >&2; exit 2 ;; esac
case "$load_mode" in mmap|none) ;; *) echo "ci/bench: --load-mode mmap|none" >&2; exit 2 ;; esac
case "$temperature" in 0|0.0*) echo "ci/bench: --temperature must be above 0 (the greedy runs are always made)" >&2; exit 2 ;; esac
list=()
for m in ${models//,/ }; do
    case "$m" in
        small) list+=(small) ;;
        scaled) list+=(q4_0 q8_0) ;;
        both|all) list+=(small q4_0 q8_0) ;;
        q4_0|q8_0|wide) list+=("$m") ;;
        *) echo "ci/bench: --models takes small, scaled (q4_0 and q8_0), both, q4_0, q8_0, wide" >&2; exit 2 ;;
    esac
done

# --- tools -------------------------------------------------------------------------------------
tool() { # NAME ARGS...: one of our tools
    local name=llamaspec-$1; shift
    if [ -n "${LLAMASPEC_RUN_TOOL:-}" ]; then
        "$LLAMASPEC_RUN_TOOL" "$name" "$@"
    else
        local t
        for t in "$LLAMASPEC_TOOLS"/*/"$name"; do [ -x "$t" ] && exec_tool=$t; done
        [ -n "${exec_tool:-}" ] || { echo "ci/bench: $name not found under $LLAMASPEC_TOOLS" >&2; return 127; }
        "$exec_tool" "$@"
        unset exec_tool
    fi
}
llama() { # TOOL ARGS...: one of llama.cpp's tools
    local name=$1; shift
    "${LLAMA_CPP_BIN:+$LLAMA_CPP_BIN/}$name" "$@"
}
json_field() { # FILE KEY: the first string, number or boolean field KEY of a JSON file we wrote
    # awk reads everything (head would close the pipe early: SIGPIPE under pipefail)
    { sed -n "s/.*\"$2\": \"\([^\"]*\)\".*/\1/p" "$1"; sed -n "s/.*\"$2\": \([-0-9.eE+a-z]*\).*/\1/p" "$1"; } | awk 'NR == 1'
}
fmt3() { awk -v a="$1" 'BEGIN { printf "%.3f", a }'; }
set_depths() { # SPECBENCH.json: "SET TOKENS" per prompt set, TOKENS the median prompt length of its plain runs
    awk '/"strategy": "plain",/ { match($0, /"set": "[^"]*"/); s = substr($0, RSTART + 8, RLENGTH - 9); next }
         s != "" && /"per_prompt"/ { line = $0
             while (match(line, /"prompt_tokens": [0-9]+/)) { print s, substr(line, RSTART + 17, RLENGTH - 17); line = substr(line, RSTART + RLENGTH) }
             s = "" }' "$1" |
    sort -k1,1 -k2,2n | awk '{ v[$1, ++n[$1]] = $2; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
        END { for (i = 1; i <= k; i++) { s = order[i]; print s, v[s, int((n[s] + 1) / 2)] } }'
}
fcmp() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; } # a < b

mkdir -p "$out" "$cache"
load() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(load)

# --- bench models and drafters, built once into the cache -------------------------------------
case "$head_dim" in 0) ;; *[!0-9]*|"") echo "ci/bench: --head-dim takes a head size (64)" >&2; exit 2 ;; esac
head_suffix=-h$head_dim; [ "$head_dim" != 0 ] || head_suffix=
scaled_path() { echo "$cache/stories260K-cost-${hidden}x${layers}${head_suffix}-$1.gguf"; }
build_scaled() { # QUANT
    local f; f=$(scaled_path "$1")
    [ -f "$f" ] && return 0
    echo "building $f (once) ..." >&2
    local hd=()
    [ "$head_dim" = 0 ] || hd=(--head-dim "$head_dim")
    tool scale-model --input "$small" --output "$f.partial.$$" --hidden "$hidden" --ffn "$ffn" --layers "$layers" \
        "${hd[@]}" --quantize "$1" 2>/dev/null
    mv "$f.partial.$$" "$f"
}
measure_agreement() { # TARGET DRAFT JSON
    tool agreement --target "$1" --draft "$2" --corpus "$corpus" --positions "$positions" --threads "$threads" \
        --json "$3" >&2
}
agreement() { # TARGET DRAFT: prints the greedy agreement of DRAFT with TARGET, measured once into the cache
    local cached
    cached=$cache/agreement-$(basename "$2" .gguf)-with-$(basename "$1" .gguf)-$positions.json
    if [ ! -f "$cached" ]; then
        measure_agreement "$1" "$2" "$cached.partial.$$"
        mv "$cached.partial.$$" "$cached"
    fi
    json_field "$cached" agreement
}
# The realistic drafter: stories260K with noise on its weights, the noise found by bisection so that
# its greedy agreement with stories260K (which the scaled models predict like) lies in the band.
lo=${agreement_band%,*} hi=${agreement_band#*,}
realistic=$cache/stories260K-drafter-agree${lo}-${hi}-seed${drafter_seed}.gguf
build_realistic() {
    # a drafter without its record (made by hand, or the record lost) has an unknown noise: made again
    [ -f "$realistic" ] && [ -f "$realistic.json" ] && return 0
    echo "calibrating the realistic drafter (once): agreement with stories260K in [$lo, $hi] ..." >&2
    local s_lo=0 s_hi=1 s a i tmp=$realistic.partial.$$
    for i in $(seq 1 20); do
        s=$(awk -v a="$s_lo" -v b="$s_hi" 'BEGIN { printf "%.6g", (a + b) / 2 }')
        tool scale-model --input "$small" --output "$tmp" --perturb "$s" --seed "$drafter_seed" 2>/dev/null
        measure_agreement "$small" "$tmp" "$tmp.json"
        a=$(json_field "$tmp.json" agreement)
        echo "  noise $s: agreement $a" >&2
        if fcmp "$a" "$lo"; then s_hi=$s; elif fcmp "$hi" "$a"; then s_lo=$s; else break; fi
    done
    if fcmp "$a" "$lo" || fcmp "$hi" "$a"; then
        echo "ci/bench: no noise level gave an agreement in [$lo, $hi] (last: noise $s, $a)" >&2
        exit 1
    fi
    printf '{"noise": %s, "seed": %s, "agreement_with": "%s", "agreement": %s, "positions": %s}\n' "$s" \
        "$drafter_seed" "$(basename "$small")" "$a" "$positions" > "$realistic.json"
    rm -f "$tmp.json"
    mv "$tmp" "$realistic"
}
# Medusa heads for a scaled model (--heads-minutes M, 0 = none), plain, regressive (Clover-style) and a
# feature drafter (EAGLE-style), without and with an attention window of 16 positions: trained once
# each into the cache by llamaspec-train-heads on stories260K, which the scaled models predict exactly
# like, for at most M minutes, and widened to each scaled model by scale-model --heads (writing the
# same model again beside, then deleting it): the same heads at a thirtieth of the training cost of
# the 2048-wide model. Their held-out accuracies go in the notes.
small_heads_path() { # medusa|regressive|feature|attention
    local kind=; [ "$1" = medusa ] || kind=-$1
    echo "$cache/stories260K-heads${kind}-${heads_minutes}min.gguf"
}
heads_path() { # QUANT medusa|regressive|feature|attention
    local kind=; [ "$2" = medusa ] || kind=-$2
    echo "$cache/$(basename "$(scaled_path "$1")" .gguf)-heads${kind}-${heads_minutes}min-widened.gguf"
}
build_heads() { # QUANT
    local f small_f kind extra hd=()
    [ "$head_dim" = 0 ] || hd=(--head-dim "$head_dim")
    for kind in medusa regressive feature attention; do
        f=$(heads_path "$1" $kind)
        [ -f "$f" ] && continue
        small_f=$(small_heads_path $kind)
        if [ ! -f "$small_f" ]; then
            case $kind in
                medusa) extra=() ;;
                attention) extra=(--feature --attention 16) ;;
                *) extra=(--$kind) ;;
            esac
            echo "training $kind heads for stories260K (once, at most $heads_minutes min) ..." >&2
            tool train-heads --model "$small" --corpus "$corpus" --output "$small_f.partial.$$" \
                --minutes "$heads_minutes" --threads "$threads" "${extra[@]}" > "$small_f.log.partial.$$"
            mv "$small_f.log.partial.$$" "$small_f.log"
            mv "$small_f.partial.$$" "$small_f"
        fi
        echo "widening $kind heads to $(basename "$(scaled_path "$1")") (once) ..." >&2
        tool scale-model --input "$small" --output "$f.model.$$" --hidden "$hidden" --ffn "$ffn" --layers "$layers" \
            "${hd[@]}" --quantize "$1" --heads "$small_f" --heads-output "$f.partial.$$" 2>/dev/null
        cmp -s "$f.model.$$" "$(scaled_path "$1")" || { echo "ci/bench: scale-model did not write $(scaled_path "$1") again" >&2; exit 1; }
        rm -f "$f.model.$$"
        cp "$small_f.log" "$f.log"
        mv "$f.partial.$$" "$f"
    done
}
heads_note() { # QUANT KIND: the heads' held-out top-1 accuracy per head, from the training log
    awk '/^head/ { on = 1; next } on && $1 ~ /^[0-9]+$/ { printf "%s%s", (n++ ? ", " : ""), $3 } END { print "" }' "$(heads_path "$1" "$2").log"
}
# The widened model (--models wide): stories260K widened like the scaled models but without added
# layers, Q4_0, so that its first blocks are really a part of it (the scaled models' added blocks
# change nothing, and early exit on them would be trivially perfect). Its early-exit drafter
# (Kangaroo-style): its first --early-exit K blocks, an adapter block trained on the corpus, and its
# head, made once by llamaspec-early-exit; the held-out agreement goes in the notes.
wide_path() { echo "$cache/stories260K-wide-${hidden}x${ffn}-q4_0.gguf"; }
exit_path() { echo "$cache/$(basename "$(wide_path)" .gguf)-exit${early_exit}.gguf"; }
build_wide() {
    local f; f=$(wide_path)
    if [ ! -f "$f" ]; then
        echo "building $f (once) ..." >&2
        tool scale-model --input "$small" --output "$f.partial.$$" --hidden "$hidden" --ffn "$ffn" --quantize q4_0 2>/dev/null
        mv "$f.partial.$$" "$f"
    fi
    f=$(exit_path)
    [ "$early_exit" = 0 ] || [ -f "$f" ] && return 0
    echo "making the early-exit drafter of $(basename "$(wide_path)") with $early_exit blocks (once) ..." >&2
    tool early-exit --model "$(wide_path)" --layers "$early_exit" --corpus "$corpus" --threads "$threads" \
        --output "$f.partial.$$" > "$f.log.partial.$$"
    mv "$f.log.partial.$$" "$f.log"
    mv "$f.partial.$$" "$f"
}
exit_note() { # the early-exit drafter's held-out agreement and sizes, from its log
    sed -n 's/^wrote [^:]*: //p; s/^held-out //p' "$(exit_path).log" | paste -sd'|' - | sed 's/|/; /g'
}
case "$heads_minutes" in 0|0.0) heads_minutes=0 ;; *[!0-9.]*|"") echo "ci/bench: --heads-minutes takes minutes" >&2; exit 2 ;; esac
case "$early_exit" in *[!0-9]*|"") echo "ci/bench: --early-exit takes a block count (0: none)" >&2; exit 2 ;; esac
for m in "${list[@]}"; do
    case "$m" in
        q4_0|q8_0) build_scaled "$m"; build_realistic; [ "$heads_minutes" = 0 ] || build_heads "$m" ;;
        wide) build_wide; build_realistic ;;
    esac
done

# --- one model ----------------------------------------------------------------------------------
llama_version=$(llama llama-lookup --version 2>&1 | sed -n 's/^version: //p' | awk 'NR == 1')
lookup_n_draft=$(llama llama-lookup --help 2>&1 | sed -n '/--spec-draft-n-max/,/default/s/.*(default: \([0-9]*\)).*/\1/p' | awk 'NR == 1')
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | awk 'NR == 1')

# Runs a llama.cpp tool with --log-file LOG until the log has its speed line: llama.cpp 0.7.0's logging
# is asynchronous and a process sometimes exits before the last lines are written (seen under load),
# which loses the numbers, not the run. At most 3 attempts; then the run counts as failed.
llama_logged() { # LOG TOOL ARGS...
    local log=$1 attempt; shift
    for attempt in 1 2 3; do
        rm -f "$log"
        llama "$@" --log-file "$log" >/dev/null 2>&1 </dev/null || true
        grep -aq 'decoded .* tokens in .* seconds' "$log" 2>/dev/null && return 0
        echo "ci/bench: no speed in $log (attempt $attempt)" >&2
    done
}

# one line of bench-table's input from a llama.cpp log: TOOL CONFIG DRAFTER TEMPERATURE SET PROMPT LOG
llama_record() {
    local line n=0 secs=0 drafted=- accepted=-
    line=$(grep -a 'decoded .* tokens in .* seconds' "$7" | tail -1 || true)
    if [ -n "$line" ]; then
        n=$(echo "$line" | sed 's/.*decoded *\([0-9]*\) tokens in.*/\1/')
        secs=$(echo "$line" | sed 's/.*tokens in *\([0-9.]*\) seconds.*/\1/')
        drafted=$(sed -n 's/.* n_drafted *= *\([0-9]*\).*/\1/p' "$7" | tail -1)
        accepted=$(sed -n 's/.* n_accept *= *\([0-9]*\).*/\1/p' "$7" | tail -1)
    else
        echo "ci/bench: $1 $2 $3 on $5 prompt $6 reported no speed (log: $7): counted as failed" >&2
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$n" "$secs" \
        "${drafted:--}" "${accepted:--}"
}

bench_model() { # small|q4_0|q8_0|wide
    local model drafters=() draft_strategies="" name dir fa
    local drafter_labels=()
    if [ "$1" != small ]; then # the perfect and realistic drafters, on every model but stories260K itself
        drafters=(--draft-model "perfect=$small" --draft-model "realistic=$realistic")
        draft_strategies=",draft:perfect,draft:realistic"
        drafter_labels=(perfect realistic)
    fi
    case "$1" in
        small) model=$small ;;
        wide) model=$(wide_path)
           if [ "$early_exit" != 0 ]; then
               drafters+=(--draft-model "early-exit=$(exit_path)")
               draft_strategies+=",draft:early-exit"
               drafter_labels+=(early-exit)
           fi ;;
        *) model=$(scaled_path "$1")
           if [ "$heads_minutes" != 0 ]; then
               drafters+=(--heads "medusa=$(heads_path "$1" medusa)" --heads "regressive=$(heads_path "$1" regressive)"
                          --heads "feature=$(heads_path "$1" feature)" --heads "attention=$(heads_path "$1" attention)")
               draft_strategies+=",medusa,medusa:regressive,medusa:feature,medusa:attention"
           fi ;;
    esac
    name=$(basename "$model" .gguf)
    dir=$out/$name
    rm -rf "$dir"
    mkdir -p "$dir/prompts" "$dir/llama"
    local fa_arg=()
    [ "$flash_attn" = default ] || fa_arg=(--flash-attn "$flash_attn")
    local common=(--model "$model" --corpus "$corpus" --strategies "$strategies$draft_strategies" --prompts "$prompts"
                  --tokens "$tokens" --threads "$threads" --ctx "$ctx" --load-mode "$load_mode" "${drafters[@]}")

    echo "== $name: specbench, greedy" >&2
    tool specbench "${common[@]}" "${fa_arg[@]}" --json "$out/$name.json" --svg "$out/$name.svg" \
        --runs "$dir/ours-greedy.tsv" --prompt-files "$dir/prompts" | tee "$dir/specbench-greedy.txt"
    # the flash attention our sessions used: llama.cpp's tools get the same
    fa=$(json_field "$out/$name.json" flash_attn)
    local tsv=$dir/llama.tsv
    : > "$tsv"
    # The order is ours greedy, llama.cpp greedy, llama-bench, llama.cpp sampled, ours sampled, llama-bench:
    # each comparison of ours with llama.cpp's runs side by side, and the speed this machine drifts by over
    # an hour favours neither side on average (with llama.cpp's tools in a block at the end, as before,
    # a drift fell on one side only: in one Q8_0 run our plain decoding read 0.91x llama-bench in our
    # greedy half and 1.02x when the two alternated).
    # llama.cpp's plain decoding twice, between the greedy and the sampled halves and at the end: the two
    # show how much the machine's speed drifted over the run. Each set's run starts
    # after as many tokens as its median prompt (-d), since a token's cost grows with the text before
    # it (on stories260K, attention is most of a step: its repetitive set decodes at half the speed).
    local depths
    depths=$(set_depths "$out/$name.json")
    llama_bench() { # ORDINAL
        local s d
        while read -r s d; do
            llama llama-bench -m "$model" -p 0 -n "$tokens" -d "$d" -t "$threads" -fa "$fa" -lm "$load_mode" -r "$reps" -o jsonl \
                > "$dir/llama/llama-bench-$s-$1.jsonl"
            sed -n 's/.*"samples_ns": \[\([^]]*\)\].*/\1/p' "$dir/llama/llama-bench-$s-$1.jsonl" | tr ',' '\n' | \
                awk -v n="$tokens" -v d="$d" -v k="$1" -v s="$s" \
                '{ printf "llama-bench\ttg%d @ d%d (%s)\t-\t0\t%s\t%d\t%d\t%.6f\t-\t-\n", n, d, k, s, NR - 1, n, $1 / 1e9 }' >> "$tsv"
        done <<< "$depths"
    }
    local top_k top_p min_p
    top_k=$(json_field "$out/$name.json" top_k) top_p=$(json_field "$out/$name.json" top_p)
    min_p=$(json_field "$out/$name.json" min_p)

    local run=(-m "$model" -n "$tokens" -t "$threads" -c "$ctx" -fa "$fa" -lm "$load_mode" --no-escape)
    local greedy=(--temp 0) sampled=(--temp "$temperature" --top-k "$top_k" --top-p "$top_p" --min-p "$min_p" -s "$seed")
    drafter_file() { case "$1" in perfect) echo "$small" ;; realistic) echo "$realistic" ;; *) exit_path ;; esac; }
    # llama_pass greedy|sampled: llama-lookup and llama-speculative-simple (each drafter at every n_max)
    # on every prompt. Sampled drafts are drawn from the drafter and verified by rejection sampling
    # (--spec-draft-sampling probabilistic); the table compares with the fastest n_max (the fastest
    # greedy n_max can be a poor one sampled: at n_max 8 such drafts were accepted a third as often)
    llama_pass() {
        local mode=$1 f p set d n_max log temp args spec
        if [ "$mode" = greedy ]; then temp=0 args=("${greedy[@]}") spec=()
        else temp=$temperature args=("${sampled[@]}") spec=(--spec-draft-sampling probabilistic); fi
        for f in "$dir"/prompts/*.txt; do
            p=$(basename "$f" .txt) set=${p%-*}
            log=$dir/llama/lookup-$mode-$p.log
            llama_logged "$log" llama-lookup "${run[@]}" -f "$f" "${args[@]}"
            llama_record llama-lookup "n_draft=$lookup_n_draft" - "$temp" "$set" $((10#${p##*-})) "$log" >> "$tsv"
            for d in "${drafter_labels[@]}"; do
                for n_max in ${n_max_list//,/ }; do
                    log=$dir/llama/spec-$mode-$d-$n_max-$p.log
                    llama_logged "$log" llama-speculative-simple "${run[@]}" -md "$(drafter_file "$d")" \
                        --spec-type draft-simple --spec-draft-n-max "$n_max" "${spec[@]}" -f "$f" "${args[@]}"
                    llama_record llama-speculative-simple "n_max=$n_max" "$d" "$temp" "$set" $((10#${p##*-})) "$log" >> "$tsv"
                done
            done
            echo -n "." >&2
        done
    }
    echo "== $name: llama.cpp, greedy" >&2
    llama_pass greedy
    echo >&2

    # plain decoding through the Java API beside llama-bench -p 0 -n TOKENS, the two alternating round by
    # round (PlainBench, as ci/bench-plain runs it): the measure the plain-decoding target is judged by,
    # since the rows above run minutes apart on a machine whose speed drifts by more than that target
    local plain_note="" java_arg=()
    if [ "$java" = 1 ] && [ -f "${LLAMASPEC_BENCH_JAR:-}" ]; then
        echo "== $name: Java API beside llama-bench, interleaved" >&2
        java --enable-native-access=ALL-UNNAMED -cp "$LLAMASPEC_BENCH_JAR" dev.llamaspec.bench.PlainBench \
            --model "$model" --tokens "$tokens" --threads "$threads" --rounds "$reps" --flash-attn "$fa" \
            --load-mode "$load_mode" \
            | tee "$dir/plain-interleaved.txt"
        plain_note=$(awk 'NR == 3 { printf "llama-bench %s t/s (± %s), Java API %s t/s (± %s), ratio of medians %s, median of the rounds'"'"' own ratios %s %s %s", $3, $5, $6, $8, $9, $10, $11, $12 }' \
            "$dir/plain-interleaved.txt")
        # the same for bench-table's target: RATIO,LO,HI (the rounds' median and range)
        local java_ratio
        java_ratio=$(awk 'NR == 3 { gsub(/[][,]/, " "); print $10 "," $11 "," $12 }' "$dir/plain-interleaved.txt")
        [[ $java_ratio =~ ^[0-9.]+,[0-9.]+,[0-9.]+$ ]] && java_arg=(--java "$java_ratio")
    fi
    echo "== $name: llama-bench" >&2
    llama_bench 1st
    echo "== $name: llama.cpp, temperature $temperature" >&2
    llama_pass sampled
    echo >&2
    echo "== $name: specbench, temperature $temperature" >&2
    tool specbench "${common[@]}" --flash-attn "$fa" --temperature "$temperature" --seed "$seed" --cost-depth 0 \
        --json "$out/$name-t$temperature.json" --svg "$out/$name-t$temperature.svg" --runs "$dir/ours-sampled.tsv" \
        | tee "$dir/specbench-sampled.txt"
    echo "== $name: llama-bench" >&2
    llama_bench 2nd

    if [ "$java" = 1 ] && [ -f "${LLAMASPEC_BENCH_JAR:-}" ]; then
        echo "== $name: Java SpecBench, greedy" >&2
        java --enable-native-access=ALL-UNNAMED -cp "$LLAMASPEC_BENCH_JAR" dev.llamaspec.bench.SpecBench \
            --model "$model" --prompts-from "$out/$name.json" --tokens "$tokens" --threads "$threads" \
            --load-mode "$load_mode" \
            --strategies "$(echo "$strategies" | sed 's/plain/none/')" --json "$out/$name-java.json"
    fi

    local notes=(
        "model: $model ($(json_field "$out/$name.json" description), $(awk -v n="$(json_field "$out/$name.json" parameters)" 'BEGIN { printf "%.1fM", n / 1e6 }') parameters)"
        "machine: $cpu, $(nproc) cores; devices: $(json_field "$out/$name.json" devices); $threads threads for every tool"
        "conditions: flash attention $fa, KV F16, model files $([ "$load_mode" = mmap ] && echo mapped || echo 'read into memory') (--load-mode $load_mode, every tool), context $ctx, up to $tokens tokens per prompt, $prompts prompts per set; sampled rows: temperature $temperature, top-k $top_k, top-p $top_p, min-p $min_p, seed $seed"
        "llama.cpp $llama_version: llama-bench -p 0 -n $tokens -d D -r $reps (D: the set's median prompt length in tokens; 1st between the greedy and the sampled halves, 2nd at the end; x llama.cpp plain is against the faster); llama-lookup and llama-speculative-simple one process per prompt, tokens/s as each prints it (decoded tokens over the seconds after the prompt; a run whose log lost that line is repeated, at most 3 times); llama-lookup's n_draft is its default; sampled llama-speculative-simple: --spec-draft-sampling probabilistic at every n_max"
        "order: our greedy runs (per prompt: plain, each strategy, plain again), llama.cpp's greedy per-prompt runs,$([ -n "$plain_note" ] && echo " the interleaved plain rounds,") llama-bench, llama.cpp's sampled per-prompt runs, our sampled runs, llama-bench; load average at the start $load_start, at the end $(load); $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    )
    # what the decode-cost curve allows any chain drafter (specbench's ceiling line)
    local ceilings
    ceilings=$(sed -n 's/.*"ceilings": \[\(.*\)\]}.*/\1/p' "$out/$name.json" | tr '}' '\n' | \
        sed -n 's/.*"acceptance": \([0-9.]*\), "chain": \([0-9]*\), "speedup": \([0-9.]*\).*/\1 \2 \3/p' | \
        awk '{ printf "%s%s: %.2fx (chain %d)", (NR > 1 ? ", " : ""), $1, $3, $2 }')
    if [ -n "$ceilings" ]; then
        notes+=("chain ceiling: the most a chain of up to $(json_field "$out/$name.json" max_depth) drafted tokens can gain over plain decoding on specbench's decode-cost curve (KV depth $(json_field "$out/$name.json" kv_depth), powers of two interpolated), drafting counted free, by acceptance per drafted token: $ceilings")
    fi
    if [ -n "$plain_note" ]; then
        notes+=("plain decoding, interleaved (ci/bench-plain's PlainBench, after the greedy runs): the Java API and llama-bench -p 0 -n $tokens -fa $fa -lm $load_mode -r 1, each loading the model afresh, alternating for $reps rounds: $plain_note (± half the range over rounds)")
    fi
    local drafter_notes=()
    if [ ${#drafter_labels[@]} -gt 0 ]; then
        drafter_notes=(--drafter "perfect=$small itself, the model the target was scaled from: every draft is the target's own prediction up to quantization, an UPPER BOUND; greedy agreement with this target $(fmt3 "$(agreement "$model" "$small")")"
                       --drafter "realistic=$(basename "$realistic"): stories260K with noise $(json_field "$realistic.json" noise) (seed $drafter_seed) on its weights; greedy agreement $(fmt3 "$(json_field "$realistic.json" agreement)") with stories260K and $(fmt3 "$(agreement "$model" "$realistic")") with this target ($positions corpus positions each)")
        if [ "$1" = wide ] && [ "$early_exit" != 0 ]; then
            drafter_notes+=(--drafter "early-exit=$(basename "$(exit_path)"): the model's own first $early_exit blocks, an adapter block (its last block, the FFN trained on the corpus by llamaspec-early-exit) and its head (Kangaroo-style self-speculation); $(exit_note)")
        fi
        if [ "$heads_minutes" != 0 ] && [ "$1" != wide ]; then
            drafter_notes+=(--note "medusa: $(basename "$(heads_path "$1" medusa)"), heads trained by llamaspec-train-heads on stories260K (which this model predicts exactly like) for at most $heads_minutes min and widened to this model by llamaspec-scale-model --heads; held-out top-1 accuracy per head on stories260K: $(heads_note "$1" medusa)")
            drafter_notes+=(--note "medusa:regressive: $(basename "$(heads_path "$1" regressive)"), regressive (Clover-style) heads made the same way with --regressive; held-out top-1 accuracy per head given the tokens before it: $(heads_note "$1" regressive)")
            drafter_notes+=(--note "medusa:feature: $(basename "$(heads_path "$1" feature)"), a feature drafter (EAGLE-style) made the same way with --feature; held-out top-1 accuracy per depth given the tokens before it: $(heads_note "$1" feature)")
            drafter_notes+=(--note "medusa:attention: $(basename "$(heads_path "$1" attention)"), the feature drafter with an attention window of 16 positions (--feature --attention 16), made the same way; held-out top-1 accuracy per depth given the tokens before it: $(heads_note "$1" attention)")
        fi
    fi
    local note_args=()
    for n in "${notes[@]}"; do note_args+=(--note "$n"); done
    tool bench-table --runs "$dir/ours-greedy.tsv" --runs "$dir/ours-sampled.tsv" --runs "$tsv" \
        --title "$name: llamaspec beside llama.cpp" "${note_args[@]}" "${drafter_notes[@]}" "${java_arg[@]}" \
        --json "$out/$name-table.json" --markdown "$out/$name-table.md" | tee "$out/$name-table.txt"
}

for m in "${list[@]}"; do
    bench_model "$m"
done
echo "results: $out/ (per model: NAME-table.txt|json|md, specbench JSON and SVG, NAME/ with every run and log)"
exit 0
}
