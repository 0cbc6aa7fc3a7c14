# sanitize.cmake — doppel_sanitize(<target>): applies the sanitizers named in the
# cache variable DOPPEL_SANITIZE ("address,undefined", "thread", or empty) to a
# target's compile and link steps. Included by models/ so the function exists for
# every later directory of a sim tree (sim/, tests/unit/). See docs/sim.md.
include_guard(GLOBAL)

set(DOPPEL_SANITIZE "" CACHE STRING "Sanitizers for the sim tree: comma list (address,undefined | thread | empty)")

function(doppel_sanitize target)
  if(NOT DOPPEL_SANITIZE)
    return()
  endif()
  string(REPLACE " " "" _list "${DOPPEL_SANITIZE}")
  string(REPLACE "," ";" _names "${_list}")
  if("thread" IN_LIST _names AND "address" IN_LIST _names)
    message(FATAL_ERROR "DOPPEL_SANITIZE: 'thread' and 'address' cannot be combined (got '${DOPPEL_SANITIZE}')")
  endif()
  set(_flags -fsanitize=${_list} -fno-omit-frame-pointer)
  if("undefined" IN_LIST _names)
    list(APPEND _flags -fno-sanitize-recover=undefined)
  endif()
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "STATIC_LIBRARY")
    # Instrument the library; whoever links it also links the runtime.
    target_compile_options(${target} PRIVATE ${_flags})
    target_link_options(${target} INTERFACE -fsanitize=${_list})
  else()
    target_compile_options(${target} PRIVATE ${_flags})
    target_link_options(${target} PRIVATE -fsanitize=${_list})
  endif()
endfunction()
