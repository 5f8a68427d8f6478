# readme-tables.cmake: keeps the generated blocks of README.md equal to what scripts/defgen.c
# writes from the .def tables. Run by the readme-config target (MODE=update) and the
# readme_config test (MODE=check); see CMakeLists.txt.
#
# cmake -DDEFGEN=PATH -DREADME=PATH -DMODE=update|check [-DWORK_DIR=DIR] [-DFIX=TEXT]
#       -P scripts/readme-tables.cmake
#   DEFGEN    the built scripts/defgen.c (build/tools/defgen)
#   README    the README.md to update or check
#   MODE      update: rewrite README in place when a block differs
#             check:  fail when a block differs, printing a unified diff and FIX
#   WORK_DIR  where check writes the expected README (README.expected.md); default: the
#             current directory
#   FIX       the command that fixes a difference, printed by check
#
# A block is every line between a line starting with "<!-- NAME:begin" and the line
# "<!-- NAME:end -->"; its text is the output of "defgen NAME".
cmake_minimum_required(VERSION 3.25)

set(BLOCKS config-table metrics-table)

foreach(var DEFGEN README MODE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "readme-tables: -D${var}=... is required")
  endif()
endforeach()
if(NOT MODE MATCHES "^(update|check)$")
  message(FATAL_ERROR "readme-tables: MODE must be update or check, not '${MODE}'")
endif()
if(NOT DEFINED WORK_DIR)
  set(WORK_DIR ${CMAKE_CURRENT_BINARY_DIR})
endif()
if(NOT DEFINED FIX)
  set(FIX "cmake --build BUILD_DIR --target readme-config")
endif()

file(READ "${README}" old)
set(new "${old}")
foreach(block IN LISTS BLOCKS)
  execute_process(COMMAND "${DEFGEN}" ${block} OUTPUT_VARIABLE text RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "readme-tables: '${DEFGEN} ${block}' failed (${rc})")
  endif()

  set(begin_marker "<!-- ${block}:begin")
  set(end_marker "<!-- ${block}:end -->")
  string(FIND "${new}" "\n${begin_marker}" begin)
  if(begin EQUAL -1)
    message(FATAL_ERROR "readme-tables: ${README} has no line starting with '${begin_marker}'")
  endif()
  # the block starts after the begin marker's line
  math(EXPR begin "${begin} + 1")
  string(SUBSTRING "${new}" ${begin} -1 rest)
  string(FIND "${rest}" "\n" eol)
  if(eol EQUAL -1)
    message(FATAL_ERROR "readme-tables: ${README} ends on the '${begin_marker}' line")
  endif()
  math(EXPR start "${begin} + ${eol} + 1")
  math(EXPR eol "${eol} + 1")
  string(SUBSTRING "${rest}" ${eol} -1 rest)
  string(FIND "${rest}" "\n${end_marker}\n" end)
  if(end EQUAL -1)
    string(FIND "${rest}" "${end_marker}\n" end)
    if(NOT end EQUAL 0)
      message(FATAL_ERROR "readme-tables: no '${end_marker}' line after '${begin_marker}' "
                          "in ${README}")
    endif()
  else()
    math(EXPR end "${end} + 1")
  endif()
  math(EXPR end "${start} + ${end}")

  string(SUBSTRING "${new}" 0 ${start} head)
  string(SUBSTRING "${new}" ${end} -1 tail)
  set(new "${head}${text}${tail}")
endforeach()

if(new STREQUAL old)
  message(STATUS "readme-tables: the generated blocks of ${README} are up to date (${BLOCKS})")
  return()
endif()

if(MODE STREQUAL "update")
  file(WRITE "${README}" "${new}")
  message(STATUS "readme-tables: regenerated ${BLOCKS} in ${README}")
  return()
endif()

set(expected "${WORK_DIR}/README.expected.md")
file(WRITE "${expected}" "${new}")
execute_process(COMMAND diff -u --label "${README}" --label "${README} (generated)"
                        "${README}" "${expected}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE diff ERROR_VARIABLE diff)
if(NOT rc EQUAL 1) # 1: the files differ, as expected; anything else: no usable diff
  set(diff "(no diff available: ${rc}); the expected README is ${expected}\n")
endif()
message("${diff}")
message(FATAL_ERROR
        "readme-tables: ${README} differs from what the .def tables generate (diff above: - "
        "the README, + the generated text). The table is generated: change "
        "include/poolshim/config.def or metrics.def, not README.md, and regenerate it with\n  ${FIX}")
