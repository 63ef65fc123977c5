# Which llama.cpp the build uses (LLAMASPEC_LLAMA):
#   submodule  the llama.cpp/ submodule, built statically into our library;
#   fetch      upstream llama.cpp at LLAMASPEC_LLAMA_TAG, downloaded at configure time by FetchContent and
#              built the same way (one self-contained library, like the submodule);
#   system     an installed llama.cpp found by find_package(llama) (shared libraries);
#   auto       the submodule when it is populated, else fetch when the repository answers
#              (git ls-remote, at most 20 s), else the system library.
# The decision is a function of its inputs, so that a configure-only test can check it without a
# download (spec-decode/tests/test-llama-source.cmake).

# Sets <out> to submodule, fetch or system, or <error> to why none can be used.
function(llamaspec_llama_source out error mode submodule_ready fetch_reachable)
    set(result "")
    set(why "")
    if(mode STREQUAL "submodule")
        if(submodule_ready)
            set(result submodule)
        else()
            set(why "LLAMASPEC_LLAMA=submodule but llama.cpp/ is empty: run `git submodule update --init`, or use -DLLAMASPEC_LLAMA=fetch or system")
        endif()
    elseif(mode STREQUAL "fetch" OR mode STREQUAL "system")
        set(result ${mode})
    elseif(mode STREQUAL "auto")
        if(submodule_ready)
            set(result submodule)
        elseif(fetch_reachable)
            set(result fetch)
        else()
            set(result system)
        endif()
    else()
        set(why "LLAMASPEC_LLAMA must be auto, submodule, fetch or system, not '${mode}'")
    endif()
    set(${out} "${result}" PARENT_SCOPE)
    set(${error} "${why}" PARENT_SCOPE)
endfunction()

# Sets <out> to whether `git ls-remote` finds <tag> in <repository> within 20 seconds.
function(llamaspec_llama_reachable out repository tag)
    find_package(Git QUIET)
    set(ok OFF)
    if(GIT_FOUND)
        execute_process(COMMAND "${GIT_EXECUTABLE}" ls-remote --exit-code "${repository}" "refs/tags/${tag}"
                        RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET TIMEOUT 20)
        if(rc EQUAL 0)
            set(ok ON)
        endif()
    endif()
    set(${out} ${ok} PARENT_SCOPE)
endfunction()
