#include "parameter_server/storage/hdf5_write_driver.h"

#include <fcntl.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <type_traits>

#include "parameter_server/storage/hdf5_util.h"

namespace hybrec::storage::hdf5 {

namespace {

// See hdf5_write_driver.h for why this driver exists.

// The driver's file-access property: which status a file reports to.
struct WriteDriverInfo {
  WriteStatus* status;
};

struct WriteDriverFile {
  H5FD_t pub;  // first, so HDF5's H5FD_t* is also a WriteDriverFile*
  int fd;
  haddr_t eoa;
  haddr_t eof;
  WriteStatus* status;
};
static_assert(std::is_standard_layout_v<WriteDriverFile>);

WriteDriverFile* driver_file(H5FD_t* file) { return reinterpret_cast<WriteDriverFile*>(file); }
const WriteDriverFile* driver_file(const H5FD_t* file) {
  return reinterpret_cast<const WriteDriverFile*>(file);
}

void record_failure(WriteDriverFile* file, const char* call, haddr_t offset) {
  if (file->status->error != 0) return;
  file->status->error = errno != 0 ? errno : EIO;
  file->status->call = call;
  file->status->offset = offset;
}

// Pushes "<call> <name>: <errno text>" onto HDF5's error stack, for the
// driver calls that do fail (open, read). Nothing may throw through HDF5.
void push_driver_error(const char* func, hid_t minor, const char* call, const char* name) {
  const int err = errno;
  try {
    const std::string message = std::string(call) + " " + name + ": " + std::strerror(err);
    H5Epush2(H5E_DEFAULT, __FILE__, func, __LINE__, H5E_ERR_CLS_g, H5E_VFL_g, minor, "%s",
             message.c_str());
  } catch (...) {
  }
}

H5FD_t* driver_open(const char* name, unsigned flags, hid_t fapl, haddr_t) {
  const auto* info = static_cast<const WriteDriverInfo*>(H5Pget_driver_info(fapl));
  if (info == nullptr || info->status == nullptr) {
    errno = EINVAL;
    push_driver_error("driver_open", H5E_CANTOPENFILE_g, "no write status for", name);
    return nullptr;
  }
  int mode = O_CLOEXEC | ((flags & H5F_ACC_RDWR) ? O_RDWR : O_RDONLY);
  if (flags & H5F_ACC_CREAT) mode |= O_CREAT;
  if (flags & H5F_ACC_TRUNC) mode |= O_TRUNC;
  if (flags & H5F_ACC_EXCL) mode |= O_EXCL;
  const int fd = ::open(name, mode, 0666);
  if (fd < 0) {
    push_driver_error("driver_open", H5E_CANTOPENFILE_g, "open", name);
    return nullptr;
  }
  struct stat st;
  auto* file = new (std::nothrow) WriteDriverFile();
  if (::fstat(fd, &st) != 0 || file == nullptr) {
    push_driver_error("driver_open", H5E_CANTOPENFILE_g, "fstat", name);
    ::close(fd);
    delete file;
    return nullptr;
  }
  file->fd = fd;
  file->eof = static_cast<haddr_t>(st.st_size);
  file->status = info->status;
  return &file->pub;
}

herr_t driver_close(H5FD_t* pub) {
  WriteDriverFile* file = driver_file(pub);
  if (::close(file->fd) != 0) record_failure(file, "close", 0);
  delete file;
  return 0;
}

herr_t driver_query(const H5FD_t*, unsigned long* flags) {
  // As sec2: metadata and small raw data are aggregated and accumulated.
  *flags = H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_ACCUMULATE_METADATA | H5FD_FEAT_DATA_SIEVE |
           H5FD_FEAT_AGGREGATE_SMALLDATA | H5FD_FEAT_POSIX_COMPAT_HANDLE;
  return 0;
}

haddr_t driver_get_eoa(const H5FD_t* file, H5FD_mem_t) { return driver_file(file)->eoa; }
herr_t driver_set_eoa(H5FD_t* file, H5FD_mem_t, haddr_t addr) {
  driver_file(file)->eoa = addr;
  return 0;
}
haddr_t driver_get_eof(const H5FD_t* file, H5FD_mem_t) { return driver_file(file)->eof; }

herr_t driver_get_handle(H5FD_t* file, hid_t, void** handle) {
  *handle = &driver_file(file)->fd;
  return 0;
}

herr_t driver_read(H5FD_t* pub, H5FD_mem_t, hid_t, haddr_t addr, size_t size, void* buf) {
  WriteDriverFile* file = driver_file(pub);
  auto* out = static_cast<char*>(buf);
  while (size > 0) {
    const ssize_t n = ::pread(file->fd, out, size, static_cast<off_t>(addr));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      push_driver_error("driver_read", H5E_READERROR_g, "pread", "checkpoint file");
      return -1;
    }
    if (n == 0) {  // past the end of what was written: zeros, as sec2
      std::memset(out, 0, size);
      break;
    }
    out += n;
    addr += static_cast<haddr_t>(n);
    size -= static_cast<size_t>(n);
  }
  return 0;
}

herr_t driver_write(H5FD_t* pub, H5FD_mem_t, hid_t, haddr_t addr, size_t size, const void* buf) {
  WriteDriverFile* file = driver_file(pub);
  const haddr_t end = addr + size;
  const auto* in = static_cast<const char*>(buf);
  while (size > 0 && file->status->error == 0) {
    const ssize_t n = ::pwrite(file->fd, in, size, static_cast<off_t>(addr));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;  // no progress: never loop on it
      record_failure(file, "write", addr);
      break;
    }
    in += n;
    addr += static_cast<haddr_t>(n);
    size -= static_cast<size_t>(n);
  }
  file->eof = std::max(file->eof, end);
  return 0;
}

herr_t driver_truncate(H5FD_t* pub, hid_t, hbool_t) {
  WriteDriverFile* file = driver_file(pub);
  if (file->status->error == 0 && file->eoa != file->eof) {
    if (::ftruncate(file->fd, static_cast<off_t>(file->eoa)) != 0) {
      record_failure(file, "truncate", file->eoa);
    }
  }
  file->eof = file->eoa;
  return 0;
}

// The driver's ID, registered once (under the HDF5 lock) and kept for the
// process's lifetime.
hid_t write_driver() {
  static const hid_t id = [] {
    static H5FD_class_t cls{};
    cls.name = "hybrec_checkpoint_write";
    cls.maxaddr = static_cast<haddr_t>(std::numeric_limits<off_t>::max());
    cls.fc_degree = H5F_CLOSE_WEAK;
    cls.fapl_size = sizeof(WriteDriverInfo);
    cls.open = driver_open;
    cls.close = driver_close;
    cls.query = driver_query;
    cls.get_eoa = driver_get_eoa;
    cls.set_eoa = driver_set_eoa;
    cls.get_eof = driver_get_eof;
    cls.get_handle = driver_get_handle;
    cls.read = driver_read;
    cls.write = driver_write;
    cls.truncate = driver_truncate;
    const H5FD_mem_t map[H5FD_MEM_NTYPES] = H5FD_FLMAP_DICHOTOMY;
    std::copy(map, map + H5FD_MEM_NTYPES, cls.fl_map);
    return H5FDregister(&cls);
  }();
  return id;
}

}  // namespace

void WriteStatus::check() const {
  if (error == 0) return;
  HYBREC_HDF5_REJECT(path, call, " at offset ", offset, " failed: ", std::strerror(error));
}

void set_write_driver(hid_t fapl, WriteStatus* status, const std::string& path) {
  const WriteDriverInfo info{status};
  check_status(H5Pset_driver(fapl, check_id(write_driver(), "H5FDregister", path), &info),
               "H5Pset_driver", path);
}

}  // namespace hybrec::storage::hdf5
