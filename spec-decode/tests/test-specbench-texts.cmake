# specbench --texts end to end: each prompt with plain decoding's continuation, written as a corpus that
# llamaspec-corpus-index reads; and a path that cannot be written is an error, not a crash. Also
# specbench --max-depth: the cap is reported, and bad values are refused. specbench --set and the time
# split per step. specbench --load-mode.
#   cmake -DSPECBENCH=... -DCORPUS_INDEX=... -DMODEL=... -DCORPUS=... -DWORK=DIR -P test-specbench-texts.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/prompts")
include("${CMAKE_CURRENT_LIST_DIR}/sd-test-check.cmake")

execute_process(COMMAND "${SPECBENCH}" --model "${MODEL}" --corpus "${CORPUS}" --sets stories,repetitive --prompts 2
                        --tokens 16 --threads 1 --cost-depth 0 --texts "${WORK}/answers.txt" --prompt-files "${WORK}/prompts"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
check("specbench --texts failed (${rc}): ${err}" rc EQUAL 0)
file(READ "${WORK}/answers.txt" answers)
string(REGEX MATCHALL "<\\|endoftext\\|>" separators "${answers}")
list(LENGTH separators n)
check("answers.txt: ${n} texts, want 4 (2 prompts x 2 sets)" n EQUAL 4)
set(rest "${answers}")
foreach(name stories-000 stories-001 repetitive-000 repetitive-001)
    file(READ "${WORK}/prompts/${name}.txt" prompt)
    string(FIND "${rest}" "<|endoftext|>" end)
    string(SUBSTRING "${rest}" 0 ${end} text)
    string(LENGTH "${prompt}" n_prompt)
    string(SUBSTRING "${text}" 0 ${n_prompt} head)
    check("${name}: the text does not begin with its prompt: '${text}'" head STREQUAL prompt)
    string(SUBSTRING "${text}" ${n_prompt} -1 continuation)
    string(STRIP "${continuation}" continuation)
    string(LENGTH "${continuation}" n_continuation)
    check("${name}: no continuation after the prompt" n_continuation GREATER 0)
    math(EXPR next "${end} + 14") # the separator and its newline
    string(SUBSTRING "${rest}" ${next} -1 rest)
endforeach()

# the answers are a corpus: the index builds from them
execute_process(COMMAND "${CORPUS_INDEX}" --model "${MODEL}" --corpus "${WORK}/answers.txt" --out "${WORK}/answers.lsidx"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
check("llamaspec-corpus-index on the answers failed (${rc}): ${err}" rc EQUAL 0 AND EXISTS "${WORK}/answers.lsidx")

execute_process(COMMAND "${SPECBENCH}" --model "${MODEL}" --corpus "${CORPUS}" --sets stories --prompts 1 --tokens 4
                        --threads 1 --cost-depth 0 --texts "${WORK}/no-such-dir/answers.txt"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
check("an unwritable --texts path: exit ${rc}, want 1" rc EQUAL 1)
string(FIND "${err}" "error: --texts: cannot write ${WORK}/no-such-dir/answers.txt" at)
check("an unwritable --texts path: '${err}'" at GREATER -1)
# --max-depth: the cap the runs used is in the JSON (the default, the engine's 16, or the option's);
# that the cap bounds the drafts is test-tree's (max_depth cuts each drafter's chains)
foreach(depth default 3)
    set(extra)
    if(NOT depth STREQUAL "default")
        set(extra --max-depth ${depth})
    endif()
    execute_process(COMMAND "${SPECBENCH}" --model "${MODEL}" --corpus "${CORPUS}" --sets repetitive --prompts 1
                            --tokens 16 --threads 1 --cost-depth 0 --strategies lookup-fixed ${extra}
                            --json "${WORK}/depth-${depth}.json"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    check("specbench --max-depth ${depth} failed (${rc}): ${err}" rc EQUAL 0)
    file(READ "${WORK}/depth-${depth}.json" json)
    string(JSON max_depth GET "${json}" max_depth)
    if(depth STREQUAL "default")
        check("the default spec.max_depth in the JSON: ${max_depth}, want 16" max_depth EQUAL 16)
    else()
        check("--max-depth 3 in the JSON: ${max_depth}" max_depth EQUAL 3)
        string(FIND "${out}" "spec.max_depth 3 for every strategy" at)
        check("--max-depth 3 not announced: '${out}'" at GREATER -1)
    endif()
endforeach()
foreach(bad 0 33 x)
    execute_process(COMMAND "${SPECBENCH}" --model "${MODEL}" --corpus "${CORPUS}" --max-depth ${bad}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(FIND "${err}" "error: bad value for --max-depth: ${bad}" at)
    check("--max-depth ${bad}: exit ${rc}, '${err}'" rc EQUAL 2 AND at GREATER -1)
endforeach()
# --set NAME=VALUE: a generation setting for every run, after the strategy's; spec.max_depth is
# --max-depth's (the report names it); max_nodes 1 leaves one draft node a step at most
execute_process(COMMAND "${SPECBENCH}" --model "${MODEL}" --corpus "${CORPUS}" --sets repetitive --prompts 1
                        --tokens 24 --threads 1 --cost-depth 0 --strategies lookup-fixed --set spec.max_nodes=1
                        --set spec.max_depth=5 --json "${WORK}/set.json"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
check("specbench --set failed (${rc}): ${err}" rc EQUAL 0)
string(FIND "${out}" "spec.max_nodes 1 for every run (--set)" at)
check("--set spec.max_nodes=1 not announced: '${out}'" at GREATER -1)
file(READ "${WORK}/set.json" json)
string(JSON max_depth GET "${json}" max_depth)
check("--set spec.max_depth=5 in the JSON: ${max_depth}" max_depth EQUAL 5)
string(JSON n_results LENGTH "${json}" results)
math(EXPR last "${n_results} - 1")
set(found 0)
foreach(i RANGE ${last})
    string(JSON strategy GET "${json}" results ${i} strategy)
    string(JSON steps GET "${json}" results ${i} steps)
    string(JSON drafted GET "${json}" results ${i} drafted)
    string(JSON decoding GET "${json}" results ${i} step_ms decoding)
    string(JSON rest GET "${json}" results ${i} step_ms rest)
    # every row's time split: llama_decode takes time, the rest is not negative
    check("${strategy}: step_ms decoding ${decoding}, rest ${rest}" decoding GREATER 0 AND NOT rest LESS -0.05)
    if(strategy STREQUAL "lookup-fixed")
        set(found 1)
        check("lookup-fixed under --set spec.max_nodes=1: ${drafted} nodes in ${steps} steps" drafted GREATER 0 AND
              NOT drafted GREATER steps)
    endif()
endforeach()
check("no lookup-fixed row in the JSON" found EQUAL 1)
string(FIND "${out}" "time per step in ms" at)
check("no time split after the table: '${out}'" at GREATER -1)
foreach(bad "bogus.name=1" "spec.max_nodes=0" "spec.max_nodes=x" "=1" "spec.max_nodes")
    execute_process(COMMAND "${SPECBENCH}" --model "${MODEL}" --corpus "${CORPUS}" --set "${bad}"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(FIND "${err}" "error: " at)
    check("--set ${bad}: exit ${rc}, '${err}'" rc EQUAL 2 AND at GREATER -1)
endforeach()
# --load-mode: the model's file mapped or read into memory, both run and are reported (the JSON's
# load_mode, the header's "model files"); anything else is refused
foreach(mode mmap none)
    execute_process(COMMAND "${SPECBENCH}" --model "${MODEL}" --corpus "${CORPUS}" --sets stories --prompts 1
                            --tokens 8 --threads 1 --cost-depth 0 --load-mode ${mode} --json "${WORK}/load-${mode}.json"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    check("specbench --load-mode ${mode} failed (${rc}): ${err}" rc EQUAL 0)
    file(READ "${WORK}/load-${mode}.json" json)
    string(JSON load_mode GET "${json}" load_mode)
    check("--load-mode ${mode} in the JSON: ${load_mode}" load_mode STREQUAL mode)
    if(mode STREQUAL "mmap")
        string(FIND "${out}" "model files mapped" at)
    else()
        string(FIND "${out}" "model files read into memory" at)
    endif()
    check("--load-mode ${mode} not announced: '${out}'" at GREATER -1)
endforeach()
foreach(bad mlock "")
    execute_process(COMMAND "${SPECBENCH}" --model "${MODEL}" --corpus "${CORPUS}" --load-mode "${bad}"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(FIND "${err}" "error: bad value for --load-mode" at)
    check("--load-mode '${bad}': exit ${rc}, '${err}'" rc EQUAL 2 AND at GREATER -1)
endforeach()
# --cost-batch: the cost curve at the sizes asked for (ascending from 1), in the JSON's decode_cost
execute_process(COMMAND "${SPECBENCH}" --model "${MODEL}" --corpus "${CORPUS}" --sets stories --prompts 1
                        --tokens 4 --threads 1 --ctx 256 --cost-depth 32 --cost-batch 1,3,5 --json "${WORK}/cost.json"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
check("specbench --cost-batch 1,3,5 failed (${rc}): ${err}" rc EQUAL 0)
file(READ "${WORK}/cost.json" json)
string(JSON n_points LENGTH "${json}" decode_cost points)
string(JSON last GET "${json}" decode_cost points 2 batch)
check("--cost-batch 1,3,5: ${n_points} points, the last at ${last}" n_points EQUAL 3 AND last EQUAL 5)
foreach(bad "2,4" "1,4,2" "1,1" "1,x" "" "1,0")
    execute_process(COMMAND "${SPECBENCH}" --model "${MODEL}" --corpus "${CORPUS}" --cost-batch "${bad}"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(FIND "${err}" "error: bad value for --cost-batch" at)
    check("--cost-batch '${bad}': exit ${rc}, '${err}'" rc EQUAL 2 AND at GREATER -1)
endforeach()
message(STATUS "test-specbench-texts: ${checks} checks")
