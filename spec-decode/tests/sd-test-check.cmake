# check(MESSAGE CONDITION...) for the tests written as CMake scripts: counts the check in `checks` and
# fails the script with MESSAGE (SEND_ERROR: the script goes on, so every failed check is reported)
# where the condition is false. include() it from the script's own directory.
set(checks 0)
macro(check message) # the condition follows the message
    math(EXPR checks "${checks} + 1")
    if(NOT (${ARGN}))
        message(SEND_ERROR "${message}")
    endif()
endmacro()
