# Registers every Criterion case of one test binary as its own CTest test.
#
# Run after the binary is built (POST_BUILD) with -D TEST_EXE=... -D TEST_PREFIX=... -D OUT=...
# -D TIMEOUT=... -D LABELS=...; writes OUT, a file of add_test() calls that CTest includes.
# Criterion's `--list` prints "suite: N tests" then one "├── case" / "|-- case" line per case.
# A binary that lists no case is an error here: an empty registration would pass silently.

execute_process(COMMAND ${CMAKE_COMMAND} -E env LANG=C LC_ALL=C ${TEST_EXE} --list
                OUTPUT_VARIABLE listing ERROR_VARIABLE listing_err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${TEST_EXE} --list failed (${rc}): ${listing_err}")
endif()

string(REPLACE "\n" ";" lines "${listing}")
set(body "")
set(count 0)
set(suite "")
foreach(line IN LISTS lines)
  if(line MATCHES "^([A-Za-z0-9_]+): [0-9]+ tests?$")
    set(suite "${CMAKE_MATCH_1}")
  elseif(line MATCHES "^(\\|--|`--|├──|└──) ([A-Za-z0-9_]+)$")
    set(case "${CMAKE_MATCH_2}")
    set(name "${TEST_PREFIX}.${suite}.${case}")
    string(APPEND body
      "add_test([=[${name}]=] [=[${TEST_EXE}]=] --filter [=[${suite}/${case}]=])\n"
      "set_tests_properties([=[${name}]=] PROPERTIES TIMEOUT ${TIMEOUT} LABELS [=[${LABELS}]=]"
      " FAIL_REGULAR_EXPRESSION [=[unrecognized option|invalid option|Synthesis: Tested: 0 ]=]"
      " PASS_REGULAR_EXPRESSION [=[Synthesis: Tested: 1 \\| Passing: 1 \\| Failing: 0 \\| Crashing: 0]=])\n")
    math(EXPR count "${count} + 1")
  endif()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "${TEST_EXE} --list named no test case")
endif()
file(WRITE "${OUT}" "${body}")
