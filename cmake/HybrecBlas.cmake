# OpenBLAS built on OpenMP (Debian's libopenblas-openmp-dev), not the default
# pthreads build: hybrec's CPU kernels run OpenMP loops right before and after
# sgemm calls, and two thread pools on the same cores (OpenBLAS's pthreads and
# libgomp's spinning workers) made an sgemm that follows an OpenMP loop 2-5x
# slower. With the OpenMP build both share libgomp's pool.
find_library(HYBREC_OPENBLAS_LIBRARY NAMES openblas
  PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib64/openblas-openmp
  NO_DEFAULT_PATH)
find_path(HYBREC_CBLAS_INCLUDE_DIR cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/openblas-openmp
  NO_DEFAULT_PATH)
if(NOT HYBREC_OPENBLAS_LIBRARY OR NOT HYBREC_CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "OpenBLAS (OpenMP build) not found: install libopenblas-openmp-dev "
                      "(scripts/setup-deps.sh does)")
endif()
add_library(BLAS::BLAS UNKNOWN IMPORTED)
set_target_properties(BLAS::BLAS PROPERTIES
  IMPORTED_LOCATION ${HYBREC_OPENBLAS_LIBRARY}
  INTERFACE_SYSTEM_INCLUDE_DIRECTORIES ${HYBREC_CBLAS_INCLUDE_DIR}
  INTERFACE_LINK_LIBRARIES OpenMP::OpenMP_CXX)
message(STATUS "hybrec: BLAS ${HYBREC_OPENBLAS_LIBRARY}")
