#!/usr/bin/env bash
# ci/bench --rpc: the model split over two ggml-rpc-server processes on 127.0.0.1, plain decoding beside
# each strategy (the drafters local), with the decode cost curve as measured over RPC, and again with
# a one-way delay added to every message between the model and each server (llamaspec-delay-proxy in
# front of each server: this machine's kernel has no netem). Run inside the build root by ci/bench.
#
#   ci/bench --rpc [--models q4_0|q8_0|small] [--delays 0,1,5] [--strategies plain,lookup,recycling,auto,draft]
#                  [--prompts 8] [--tokens 64] [--threads 2] [--server-threads 1] [--sets stories,repetitive]
#
# "draft" is stories260K, the scaled models' perfect drafter (an upper bound). Each delay gets its own
# pair of servers; every process is killed when the script ends, however it ends. Results: specbench's
# table per delay in build/bench/rpc-DELAY.txt (and .json), and a summary in build/bench/rpc.md.
set -euo pipefail
{
models=q4_0 delays=0,1,5 strategies=plain,lookup,recycling,auto,draft prompts=8 tokens=64 threads=2
server_threads=1 sets=stories,repetitive
out=build/bench cache=/var/cache/llamaspec/models
small=../shared/models/stories260K.gguf corpus=../shared/corpus/tinystories_train_sample.txt
server_bin=${LLAMASPEC_RPC_SERVER:-/usr/libexec/x86_64-linux-gnu/llama/bin/ggml-rpc-server}
while [ $# -gt 0 ]; do
    case "$1" in
        --rpc) shift ;;
        --models) models=$2; shift 2 ;;
        --delays) delays=$2; shift 2 ;;
        --strategies) strategies=$2; shift 2 ;;
        --prompts) prompts=$2; shift 2 ;;
        --tokens) tokens=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --server-threads) server_threads=$2; shift 2 ;;
        --sets) sets=$2; shift 2 ;;
        --no-java) shift ;;
        *) echo "ci/bench --rpc: unknown argument $1" >&2; exit 2 ;;
    esac
done
tool() { # NAME ARGS...: one of our tools
    local name=llamaspec-$1 t; shift
    for t in "$LLAMASPEC_TOOLS"/*/"$name"; do [ -x "$t" ] && { "$t" "$@"; return; }; done
    echo "ci/bench --rpc: $name not found under $LLAMASPEC_TOOLS" >&2
    return 127
}
tool_path() { local t; for t in "$LLAMASPEC_TOOLS"/*/"llamaspec-$1"; do [ -x "$t" ] && echo "$t"; done; }
[ -x "$server_bin" ] || { echo "ci/bench --rpc: $server_bin not found (Debian's llama.cpp-tools-extra)" >&2; exit 1; }
case "$models" in
    small) model=$small ;;
    q4_0|q8_0)
        model=$cache/stories260K-cost-2048x16-$models.gguf
        if [ ! -f "$model" ]; then
            echo "building $model (once) ..." >&2
            mkdir -p "$cache"
            tool scale-model --input "$small" --output "$model.partial.$$" --hidden 2048 --ffn 5632 --layers 16 \
                --quantize "$models" 2>/dev/null
            mv "$model.partial.$$" "$model"
        fi ;;
    *) echo "ci/bench --rpc: --models takes one of q4_0, q8_0, small" >&2; exit 2 ;;
esac
mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
free_port() { # a port nothing listens on
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null || { echo "$p"; return; }
    done
}
wait_port() { local i; for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
proxy=$(tool_path delay-proxy)
summary=$out/rpc.md
{
    echo "# ci/bench --rpc: $(basename "$model") over two ggml-rpc-servers on 127.0.0.1"
    echo
    echo "\`ci/bench --rpc --models $models --delays $delays --prompts $prompts --tokens $tokens --threads $threads --server-threads $server_threads --sets $sets --strategies $strategies\`"
    echo
    echo "$(date -u +%FT%TZ); $(nproc) cores; client threads $threads, each server $server_threads thread(s);"
    echo "$prompts prompts x $tokens tokens per set ($sets), greedy; one-way delay per message added by"
    echo "llamaspec-delay-proxy in front of each server (0 = plain loopback). draft = stories260K (perfect drafter, upper bound)."
    echo
    echo "| delay | set | strategy | tokens/s | tau | ratio to plain: median [95%] | decode cost b2 / b4 / b8 |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
} > "$summary"
for delay in ${delays//,/ }; do
    endpoints=()
    for s in 1 2; do
        port=$(free_port)
        "$server_bin" -H 127.0.0.1 -p "$port" -t "$server_threads" >/dev/null 2>&1 &
        pids+=($!)
        disown
        wait_port "$port" || { echo "ci/bench --rpc: ggml-rpc-server did not listen on $port" >&2; exit 1; }
        if [ "$delay" != 0 ]; then
            front=$(free_port)
            "$proxy" "$front" "$port" "$delay" >/dev/null 2>&1 &
            pids+=($!)
            disown
            wait_port "$front" || { echo "ci/bench --rpc: the delay proxy did not listen on $front" >&2; exit 1; }
            port=$front
        fi
        endpoints+=("127.0.0.1:$port")
    done
    rpc=$(IFS=,; echo "${endpoints[*]}")
    echo "delay ${delay} ms: servers $rpc" >&2
    tool specbench --model "$model" --corpus "$corpus" --draft-model "$small" --strategies "$strategies" --sets "$sets" \
        --prompts "$prompts" --tokens "$tokens" --threads "$threads" --rpc "$rpc" --rpc-timeout-ms 120000 \
        --json "$out/rpc-$delay.json" > "$out/rpc-$delay.txt" 2>"$out/rpc-$delay.log" \
        || { tail -n 20 "$out/rpc-$delay.log" >&2; exit 1; }
    cat "$out/rpc-$delay.txt"
    cost=$(sed -n 's/^  b1 1.00  b2 \([0-9.]*\)  b4 \([0-9.]*\)  b8 \([0-9.]*\).*/\1 \/ \2 \/ \3/p' "$out/rpc-$delay.txt")
    awk -v d="$delay" -v cost="$cost" '
        /^set +strategy/ { table = 1; next }
        table && NF == 0 { table = 0 }
        table && $1 == "divergence:" { table = 0 }
        table && NF >= 12 && $2 !~ /-repeat$/ {
            ratio = ($2 == "plain") ? "-" : $10 " " $11 " " $12
            printf "| %s ms | %s | %s | %s | %s | %s | %s |\n", d, $1, $2, $9, $8, ratio, cost
        }' "$out/rpc-$delay.txt" >> "$summary"
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    pids=()
done
echo
cat "$summary"
}
