# Configure-only test of where llama.cpp comes from (cmake/llamaspec-llama.cmake): the decision for
# every mode and input, without a download. Run: cmake -P test-llama-source.cmake
include("${CMAKE_CURRENT_LIST_DIR}/../../cmake/llamaspec-llama.cmake")

set(failures 0)
function(expect mode submodule reachable want want_error)
    llamaspec_llama_source(got error "${mode}" ${submodule} ${reachable})
    if(NOT got STREQUAL want OR (want_error STREQUAL "" AND NOT error STREQUAL "")
       OR (NOT want_error STREQUAL "" AND NOT error MATCHES "${want_error}"))
        message(SEND_ERROR "mode=${mode} submodule=${submodule} reachable=${reachable}: got '${got}' (error '${error}'), want '${want}' (error matching '${want_error}')")
    endif()
endfunction()

# mode       submodule reachable  source     error
expect(auto      ON    ON         submodule  "")
expect(auto      ON    OFF        submodule  "")
expect(auto      OFF   ON         fetch      "")
expect(auto      OFF   OFF        system     "")
expect(submodule ON    OFF        submodule  "")
expect(submodule OFF   ON         ""         "llama.cpp/ is empty")
expect(fetch     ON    OFF        fetch      "")
expect(fetch     OFF   OFF        fetch      "")
expect(system    ON    ON         system     "")
expect(bundled   OFF   OFF        ""         "must be auto, submodule, fetch or system, not 'bundled'")
expect(""        OFF   OFF        ""         "must be auto, submodule, fetch or system")

# an unreachable repository is found unreachable (a name that cannot resolve: no download is tried)
llamaspec_llama_reachable(reachable "https://invalid.invalid/llama.cpp" "b1")
if(reachable)
    message(SEND_ERROR "https://invalid.invalid/llama.cpp was reachable")
endif()
message(STATUS "test-llama-source: done")
