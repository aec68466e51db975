// Check macro for MPI calls: a failure throws hybrec::Error naming the call,
// MPI's own error text and the file and line (communicators and windows use
// MPI_ERRORS_RETURN, set where hybrec creates them, so errors reach here
// instead of aborting the job inside MPI).
#pragma once

#include <mpi.h>

#include <string>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer::detail {

inline std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(length));
}

}  // namespace hybrec::trainer::detail

#define HYBREC_MPI_CHECK(call)                                                     \
  do {                                                                             \
    const int hybrec_mpi_status_ = (call);                                         \
    if (hybrec_mpi_status_ != MPI_SUCCESS) {                                       \
      HYBREC_THROW("MPI error in ", #call, ": ",                                   \
                   ::hybrec::trainer::detail::mpi_error_text(hybrec_mpi_status_)); \
    }                                                                              \
  } while (0)
