# One helper registers every test executable with its ctest labels
# (unit, kernels, ps, trainer, mpi, integration, gpu, slow), so a CPU-only machine runs
# `ctest -LE gpu` and a GPU machine `ctest -L gpu`.
set(HYBREC_TEST_LABELS unit kernels ps trainer mpi integration gpu slow)

function(hybrec_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  foreach(label IN LISTS T_LABELS)
    if(NOT label IN_LIST HYBREC_TEST_LABELS)
      message(FATAL_ERROR "hybrec_add_test(${name}): unknown label '${label}'")
    endif()
  endforeach()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  hybrec_target_defaults(${name})
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
endfunction()
