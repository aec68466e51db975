# NCCL for the GPU all-reduce: header nccl.h and library libnccl, looked for
# next to the CUDA toolkit, under $NCCL_HOME / -DNCCL_ROOT, then the system
# paths. Sets HYBREC_WITH_NCCL and the imported target hybrec::nccl; only
# looked for when the CUDA backend is on (HYBREC_WITH_CUDA).
set(HYBREC_WITH_NCCL OFF)
if(HYBREC_WITH_CUDA AND NOT TARGET hybrec::nccl)
  set(_nccl_hints ${NCCL_ROOT} $ENV{NCCL_HOME} $ENV{NCCL_ROOT} ${CUDAToolkit_LIBRARY_ROOT})
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${_nccl_hints} ${CUDAToolkit_INCLUDE_DIRS}
            PATH_SUFFIXES include)
  find_library(NCCL_LIBRARY nccl HINTS ${_nccl_hints} ${CUDAToolkit_LIBRARY_DIR}
               PATH_SUFFIXES lib lib64)
  if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    add_library(hybrec::nccl UNKNOWN IMPORTED)
    set_target_properties(hybrec::nccl PROPERTIES IMPORTED_LOCATION ${NCCL_LIBRARY}
                          INTERFACE_INCLUDE_DIRECTORIES ${NCCL_INCLUDE_DIR})
    message(STATUS "hybrec: NCCL found (${NCCL_LIBRARY})")
  else()
    message(STATUS "hybrec: NCCL not found; GPU all-reduce off (set NCCL_HOME)")
  endif()
endif()
if(TARGET hybrec::nccl)
  set(HYBREC_WITH_NCCL ON)
endif()
