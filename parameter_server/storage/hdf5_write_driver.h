// A small POSIX HDF5 driver that checkpoint files are written through.
//
// Files are written through this small POSIX driver instead of HDF5's sec2
// because of how HDF5 1.10 handles a failed write: if H5Fclose cannot write
// its last metadata (a full disk, say), it frees the file but leaves its ID
// registered, leaking its caches and crashing the library's atexit cleanup.
// So this driver never fails a write or truncate: it records the first
// failure in the writer's WriteStatus and drops that and every later write.
// The writer checks the status after each stripe and after the close, and
// throws; the closes of the doomed file then succeed like any other.
//
// Reads of a file opened for writing go through it too; files only read
// are opened with HDF5's own drivers.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>

namespace hybrec::storage::hdf5 {

// Where the write driver reports the first failed write, truncate or close
// of one file. Must outlive every handle of that file: their closes report
// to it.
struct WriteStatus {
  int error = 0;  // errno of the first failure; 0 while none
  const char* call = "";
  uint64_t offset = 0;
  std::string path;

  // Throws as hdf5::throw_file_error() "<kind> file <path>: <call> at
  // offset <offset> failed: <strerror>" if a failure was recorded. Call
  // with an hdf5::Lock held.
  void check() const;
};

// Makes file-access property list `fapl` open files through the write
// driver, reporting to *status (which must outlive the files opened). The
// driver is registered with HDF5 on first use and kept for the process's
// lifetime. Call with an hdf5::Lock held. Throws as hdf5::check_id /
// check_status, naming `path`, if registering or setting the driver fails.
void set_write_driver(hid_t fapl, WriteStatus* status, const std::string& path);

}  // namespace hybrec::storage::hdf5
