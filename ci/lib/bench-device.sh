#!/bin/bash
# One call on a GPU machine (the device tool): probes the GPU through ci/bench-bundle's Vulkan backend,
# then runs ci/bench's body on the cost-scaled Q4_0 model (then Q8_0 if time is left) and packs the
# results into $OUT. CARRY holds bundle.tar.gz, stories260K.gguf, corpus.txt and (optionally) the
# realistic drafter from the build root's model cache, so that it need not be calibrated there:
#   CARRY=.gpu/carry BUDGET=490 PROMPTS=4 NMAX=4,8,16 HEADS=0 THREADS=8 bash ci/lib/bench-device.sh

set -u
T0=$(date +%s)
left() { echo $((T0 + ${BUDGET:-500} - $(date +%s))); }
C=$(cd "${CARRY:-.gpu/carry}" && pwd)
W=/tmp/w
mkdir -p $W/cache
log() { echo "[$(($(date +%s) - T0))s] $*" | tee -a $OUT/log.txt; }
tar -C $W -xzf $C/bundle.tar.gz
B=$W/bundle
cp $C/stories260K-drafter-agree0.70-0.80-seed1.gguf* $W/cache/ 2>/dev/null
{
    nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv
    ls -la /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
    nproc; free -g | head -2
    cat /etc/os-release | head -3
} > $OUT/probe.txt 2>&1
log "probe: specbench plain on stories260K"
cat /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json >> $OUT/probe.txt 2>&1
ls /usr/local/nvidia/lib64 2>&1 | grep -i -E 'glx|vulkan|glcore' >> $OUT/probe.txt
VK_LOADER_DEBUG=error,warn,driver timeout 90 $B/run --model $C/stories260K.gguf --corpus $C/corpus.txt --strategies plain --prompts 1 --tokens 32 \
    --threads ${THREADS:-8} --json $W/probe.json >> $OUT/probe.txt 2>&1
grep -o '"devices": "[^"]*"' $W/probe.json | tee -a $OUT/log.txt
log "probe: one llama-bench process"
( time timeout 60 $B/llama-bin/llama-bench -m $C/stories260K.gguf -p 0 -n 32 -r 1 -t ${THREADS:-8} ) >> $OUT/probe.txt 2>&1
log "probe done"
if ! grep -q '"devices": "[^"]*Vulkan' $W/probe.json; then
    log "no Vulkan device: no bench"
    exit 0
fi
run_bench() { # MODEL SECONDS
    log "bench $1 (at most $2 s)"
    ( cd $W && timeout --signal=TERM $2 $B/bench --small $C/stories260K.gguf --corpus $C/corpus.txt --models $1 \
        --prompts ${PROMPTS:-4} --threads ${THREADS:-8} --n-max ${NMAX:-4,8,16} --reps 3 --heads-minutes ${HEADS:-0} \
        --cache $W/cache --out $W/bench ) >> $OUT/log.txt 2>&1
    log "bench $1 ended: $?"
}
run_bench q4_0 $(( $(left) - 150 ))
if [ $(left) -gt 200 ]; then run_bench q8_0 $(( $(left) - 30 )); fi
# a model whose run was cut short: its table from the runs it finished
for d in $W/bench/stories260K-cost-*/; do
    [ -d "$d" ] || continue
    n=$(basename "$d")
    [ -f $W/bench/$n-table.txt ] && continue
    args=(); for t in "$d"*.tsv; do [ -s "$t" ] && args+=(--runs "$t"); done
    [ ${#args[@]} -gt 0 ] && $B/run-tool llamaspec-bench-table "${args[@]}" --title "$n: PARTIAL, the run was cut short" \
        > $W/bench/$n-table.txt 2>&1
done
for f in $W/bench/*-table.txt; do [ -f "$f" ] && cp "$f" $OUT/; done
cp $W/cache/*heads*.log $OUT/ 2>/dev/null
tar -C $W -czf $OUT/bench.tar.gz bench cache/*.json cache/*.log 2>/dev/null
log "done"
