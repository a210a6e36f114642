# Installs the build into a scratch prefix and checks that every file a package needs is there
# and the installed daemon runs. Run by ctest (test `install`) with -D BUILD_DIR=... -D DEST=...
file(REMOVE_RECURSE "${DEST}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${DEST}"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
set(expected bin/careteamd bin/careteam lib/systemd/system/careteamd.service
             share/doc/careteam/README.md share/doc/careteam/protocol.md
             share/doc/careteam/operations.md share/doc/careteam/workflow.md
             share/bash-completion/completions/careteam
             share/bash-completion/completions/careteamd)
# The man pages are built when scdoc is there (the test dependencies install it).
if(WITH_MAN)
  list(APPEND expected share/man/man1/careteam.1 share/man/man8/careteamd.8)
endif()
foreach(f ${expected})
  if(NOT EXISTS "${DEST}/${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
execute_process(COMMAND "${DEST}/bin/careteamd" --version RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "^careteamd ")
  message(FATAL_ERROR "the installed careteamd does not run: ${rc} ${out}")
endif()
message(STATUS "install: all files in place under ${DEST}")
file(REMOVE_RECURSE "${DEST}")
