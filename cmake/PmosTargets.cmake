# Helpers that give every PMOS target the same warnings, tests the same
# registration, and fuzzers the same flags.

add_library(pmos_warnings INTERFACE)
target_compile_options(pmos_warnings INTERFACE
  -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wimplicit-fallthrough)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # g++ 12 reports false positives inside std::vector/std::array at -O2
  # (GCC bugs 105329, 105651); they are not ours to fix.
  target_compile_options(pmos_warnings INTERFACE -Wno-stringop-overflow -Wno-stringop-overread -Wno-restrict -Wno-array-bounds)
endif()

# pmos_library(NAME SOURCES... [PUBLIC libs...] [PRIVATE libs...])
function(pmos_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC;PRIVATE" ${ARGN})
  add_library(pmos_${name} STATIC ${ARG_SOURCES})
  add_library(pmos::${name} ALIAS pmos_${name})
  target_include_directories(pmos_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(pmos_${name} PUBLIC ${ARG_PUBLIC} PRIVATE pmos_warnings ${ARG_PRIVATE})
endfunction()

# pmos_test(NAME SOURCES... LIBS ...): one GoogleTest binary, its tests listed
# by ctest. Discovery runs at test time, so a build never executes test code.
function(pmos_test name)
  if(NOT PMOS_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE pmos_warnings pmos::testing ${ARG_LIBS}
                        GTest::gtest GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
                       PROPERTIES ENVIRONMENT "PMOS_TESTVECTORS_DEFAULT=${PMOS_TESTVECTORS_DIR}")
endfunction()

# pmos_benchmark(NAME SOURCES... LIBS ...)
function(pmos_benchmark name)
  if(NOT PMOS_BUILD_BENCH)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE pmos_warnings ${ARG_LIBS} benchmark::benchmark)
endfunction()

# pmos_fuzzer(NAME SOURCES... LIBS ...): a libFuzzer target; built only in
# the fuzz preset (clang-14). scripts/fuzz runs every target in build/fuzz/fuzz/.
function(pmos_fuzzer name)
  if(NOT PMOS_BUILD_FUZZ)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE pmos_warnings ${ARG_LIBS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
endfunction()
