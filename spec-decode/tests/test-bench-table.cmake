# llamaspec-bench-table end to end on runs made up for it: the table's ratios and the targets' verdicts
# (met, within the noise, short), --java, and bad input refused with a message instead of a table.
#   cmake -DBENCH_TABLE=... -DWORK=DIR -P test-bench-table.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
include("${CMAKE_CURRENT_LIST_DIR}/sd-test-check.cmake")

# tool config drafter temperature set prompt tokens seconds drafted accepted; 128 tokens at the given rate
set(runs "tool\tconfig\tdrafter\ttemperature\tset\tprompt\ttokens\tseconds\tdrafted\taccepted\n")
# rate: tenths of a token per second (500: 50 tokens/s); the seconds are written in microseconds
macro(run tool config drafter set prompt rate drafted accepted)
    math(EXPR _us "1280000000 / ${rate}")
    string(APPEND runs "${tool}\t${config}\t${drafter}\t0\t${set}\t${prompt}\t128\t${_us}e-6\t${drafted}\t${accepted}\n")
endmacro()
foreach(p 0 1 2)
    run(llama-bench "tg128 @ d20" - stories ${p} 500 - -)
    run(llama-bench "tg128 @ d240" - repetitive ${p} 400 - -)
    run(llama-speculative-simple n_max=3 perfect stories ${p} 800 300 200)
    run(llamaspec plain - stories ${p} 500 0 0)
    run(llamaspec plain-repeat - stories ${p} 500 0 0)
    run(llamaspec draft:perfect perfect stories ${p} 1100 300 250)   # 1.375x llama.cpp's best: met
    run(llamaspec draft:realistic realistic stories ${p} 560 300 150) # 1.12x llama-bench: short
    run(llamaspec plain - repetitive ${p} 400 0 0)
    run(llamaspec plain-repeat - repetitive ${p} 400 0 0)
    run(llamaspec auto - repetitive ${p} 400 0 0)                     # level, but drafted nothing: short
    run(llamaspec lookup - stories ${p} 560 10 0)                     # 1.12x with nothing accepted: marked
endforeach()
# auto on the story openings at 0.90, 0.96 and 0.99 of plain decoding: median 0.96, interval up to 0.99
run(llamaspec auto - stories 0 450 10 5)
run(llamaspec auto - stories 1 480 10 5)
run(llamaspec auto - stories 2 495 10 5)
# sampled plain decoding: llama-bench does not sample, so no plain target is judged on it
string(APPEND runs "llamaspec\tplain\t-\t0.8\tstories\t0\t128\t0.5\t0\t0\n")
file(WRITE "${WORK}/runs.tsv" "${runs}")

execute_process(COMMAND "${BENCH_TABLE}" --runs "${WORK}/runs.tsv" --title "made up" --java "1.004,0.967,1.018"
                        --json "${WORK}/table.json" --markdown "${WORK}/table.md"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
check("bench-table failed (${rc}): ${err}" rc EQUAL 0)
string(FIND "${out}" "against the speed issue's targets" at)
check("no targets in the output:\n${out}" at GREATER -1)
string(SUBSTRING "${out}" ${at} -1 targets)
function(verdict pattern) # a function: a macro would expand the pattern's escapes once more
    math(EXPR n "${checks} + 1")
    set(checks ${n} PARENT_SCOPE)
    string(REGEX MATCH "${pattern}" m "${targets}")
    if(NOT m)
        message(SEND_ERROR "no line matching '${pattern}' in:\n${targets}")
    endif()
endfunction()
verdict("plain decoding through the Java API[^\n]*1\\.004 \\[0\\.967, 1\\.018\\][^\n]*0\\.97  +met")
verdict("perfect drafter +stories +greedy +1\\.375 +llama-speculative-simple n_max=3 +1\\.30 +met")
verdict("realistic drafter +stories +greedy +1\\.120 +llama-bench +1\\.15 +short")
verdict("realistic drafter, never below our plain +stories +greedy +1\\.120 +our plain +1\\.00 +met")
verdict("auto +stories +greedy +0\\.960 \\[0\\.900, 0\\.990\\] +our plain +0\\.97 +within the noise")
verdict("auto +repetitive +greedy +1\\.000 +our plain +0\\.97 +met")
verdict("auto drafts on the repetitive prompts \\(nodes drafted\\) +repetitive +greedy +0 +- +at least 1 +short")
verdict("plain decoding \\(specbench; llama-bench runs minutes apart\\) +stories +greedy +1\\.000 +llama-bench +1\\.00 +met")
string(REGEX MATCH "plain decoding \\(specbench[^\n]*0\\.8" m "${targets}")
check("a plain target judged on sampled plain decoding:\n${targets}" NOT m)
# lookup's 1.12x (nothing accepted) would read "met"; its row is marked, so it is not judged
verdict("lookup +stories +greedy +1\\.120 +our plain +0\\.97 +not judged: the row is marked !")
file(READ "${WORK}/table.md" md)
string(FIND "${md}" "| realistic drafter | stories | greedy | 1.120 | llama-bench | 1.15 | short |" at)
check("the Markdown lacks the realistic drafter's target:\n${md}" at GREATER -1)
file(READ "${WORK}/table.json" json)
string(FIND "${json}" "\"target\": \"perfect drafter\", \"set\": \"stories\", \"sampling\": \"greedy\", \"measured\": 1.375" at)
check("the JSON lacks the perfect drafter's target:\n${json}" at GREATER -1)
# the mark: faster than its tokens per step allow (lookup: nothing accepted), and not where that fits
# (auto on the story openings: 0.96x, 5 of 10 accepted)
string(REGEX MATCH "\"config\": \"lookup\"[^\n]*\"suspect\": true" m "${json}")
check("lookup at 1.12x with nothing accepted is not marked (table.json)" m)
string(REGEX MATCH "\"set\": \"stories\"[^\n]*\"config\": \"auto\"[^\n]*\"suspect\": false" m "${json}")
check("auto on the story openings is marked (table.json)" m)
string(REGEX MATCH "\"target\": \"lookup\"[^\n]*\"verdict\": \"not judged: the row is marked !\"" m "${json}")
check("lookup's target is judged although its row is marked (table.json)" m)

# without --java there is no Java row
execute_process(COMMAND "${BENCH_TABLE}" --runs "${WORK}/runs.tsv" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
check("bench-table without --java failed (${rc}): ${err}" rc EQUAL 0)
string(FIND "${out}" "Java API" at)
check("a Java row without --java" at EQUAL -1)

# bad --java values are refused with a message
foreach(bad "1.0" "1.0,0.9" "x,0.9,1.1" "1.0,1.1,1.2" "1.0,0.9,0.95" "1.0,0.9,1.1," "-1,-2,1")
    execute_process(COMMAND "${BENCH_TABLE}" --runs "${WORK}/runs.tsv" --java "${bad}"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    check("--java '${bad}' was accepted (${rc})" rc EQUAL 2)
    string(FIND "${err}" "--java needs RATIO,LO,HI" at)
    check("--java '${bad}': no message: ${err}" at GREATER -1)
endforeach()

message(STATUS "test-bench-table: ${checks} checks")
