# One helper registers every test executable with its ctest labels
# (unit, kernels, ps, trainer, mpi, integration, gpu, slow, and for the cluster
# tests slurm, multihost, faults; serving and stream for the real-time path),
# so a CPU-only machine runs `ctest -LE gpu` and a GPU machine `ctest -L gpu`.
set(HYBREC_TEST_LABELS unit kernels ps trainer mpi integration gpu slow slurm multihost faults
    parity serving stream)

function(hybrec_check_labels name labels)
  foreach(label IN LISTS labels)
    if(NOT label IN_LIST HYBREC_TEST_LABELS)
      message(FATAL_ERROR "${name}: unknown test label '${label}'")
    endif()
  endforeach()
endfunction()

# Open MPI leaks at exit, partly from plugins it has already unloaded (so no
# suppression can name them). Under the sanitizers, processes of tests with
# the `mpi` label skip LeakSanitizer; the same code paths run leak-checked in
# the single-process suites.
function(hybrec_mpi_sanitizer_env test labels)
  if(HYBREC_SANITIZE AND "mpi" IN_LIST labels)
    set_property(TEST ${test} APPEND PROPERTY ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
  endif()
endfunction()

function(hybrec_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  hybrec_check_labels("hybrec_add_test(${name})" "${T_LABELS}")
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)  # tests/testing/*
  hybrec_target_defaults(${name})
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
  hybrec_mpi_sanitizer_env(${name} "${T_LABELS}")
endfunction()

# The sibling for tests that run under mpirun: builds `name` once and
# registers one ctest test per rank count, `name_npN`, run as
#   mpirun -np N --oversubscribe <name>
# RANKS lists the counts; MAIN_LIBS replaces GTest::gtest_main when the test
# brings its own main (MPI init before the tests, result agreed by all
# ranks). Root may run mpirun here (containers), and Open MPI yields the CPU
# while waiting once ranks outnumber cores (--oversubscribe).
function(hybrec_add_mpi_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS;RANKS" ${ARGN})
  hybrec_check_labels("hybrec_add_mpi_test(${name})" "${T_LABELS}")
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)  # tests/testing/*
  hybrec_target_defaults(${name})
  foreach(ranks IN LISTS T_RANKS)
    add_test(NAME ${name}_np${ranks}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${ranks} --oversubscribe
                     ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${name}> ${MPIEXEC_POSTFLAGS} --gtest_color=no)
    set_tests_properties(${name}_np${ranks} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
      ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
      PROCESSORS ${ranks})
    hybrec_mpi_sanitizer_env(${name}_np${ranks} "${T_LABELS}")
  endforeach()
endfunction()

# A test that is a bash script driving real processes (tests/cluster): run
# with the hybrec binary in HYBREC_BIN; exit 77 means skipped (not root, a
# tool missing). RUN_SERIAL: they start daemons, namespaces and MPI jobs that
# want the machine's cores to themselves.
function(hybrec_add_script_test name)
  cmake_parse_arguments(T "" "SCRIPT;TIMEOUT" "LABELS" ${ARGN})
  hybrec_check_labels("hybrec_add_script_test(${name})" "${T_LABELS}")
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  add_test(NAME ${name} COMMAND bash ${T_SCRIPT})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    SKIP_RETURN_CODE 77 RUN_SERIAL TRUE
    ENVIRONMENT "HYBREC_BIN=$<TARGET_FILE:hybrec>")
  # They run hybrec under mpirun: treated as the mpi label is under the sanitizers.
  hybrec_mpi_sanitizer_env(${name} "mpi")
endfunction()
