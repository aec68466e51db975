#include "parameter_server/checkpoint.h"

#include <fcntl.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "parameter_server/errors.h"
#include "parameter_server/table_spec.h"

namespace hybrec::ps {

namespace {

namespace fs = std::filesystem;

constexpr int kFormatVersion = 1;
constexpr const char* kManifestName = "MANIFEST";
constexpr const char* kManifestMagic = "hybrec-checkpoint";
// A manifest is three short lines; anything much longer is not one.
constexpr size_t kMaxManifestBytes = 4096;
// Chunks of ~512 KiB: big enough for sequential I/O, small enough that the
// partially filled chunk of each dataset stays in HDF5's 1 MiB chunk cache
// while stripes are appended one at a time.
constexpr int64_t kChunkBytes = 512 * 1024;
constexpr int64_t kMinChunkRows = 1024;
constexpr int64_t kMaxChunkRows = 65536;
// Reads go through a buffer of at most this many bytes (and rows), whatever
// the table's size or the row count a (possibly corrupt) file claims.
constexpr int64_t kReadBlockBytes = 16 * 1024 * 1024;
constexpr int64_t kMaxReadBlockRows = 65536;

// The Debian serial HDF5 build is not thread-safe; every HDF5 call in this
// file runs under this lock.
std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Holds the HDF5 lock and keeps the library from printing its error stack
// to stderr; failures are reported through the exceptions below instead.
class Hdf5Lock {
 public:
  Hdf5Lock() : lock_(hdf5_mutex()) { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

 private:
  std::lock_guard<std::mutex> lock_;
};

// "<outermost>: <innermost>" descriptions of the current HDF5 error stack,
// e.g. "unable to open file: file signature not found". Must be called
// before any other HDF5 call, which would clear the stack.
std::string hdf5_error_detail() {
  std::vector<std::string> descs;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* err, void* data) -> herr_t {
        if (err->desc == nullptr || err->desc[0] == '\0') return 0;
        try {  // nothing may throw through HDF5
          // Some descriptions embed ctime()'s newline; keep messages on one line.
          std::string desc = err->desc;
          std::replace(desc.begin(), desc.end(), '\n', ' ');
          static_cast<std::vector<std::string>*>(data)->push_back(std::move(desc));
        } catch (...) {
          return -1;
        }
        return 0;
      },
      &descs);
  if (descs.empty()) return "";
  if (descs.size() == 1 || descs.front() == descs.back()) return ": " + descs.front();
  return ": " + descs.front() + ": " + descs.back();
}

[[noreturn]] void fail_hdf5(const char* call, const std::string& path, const std::string& what) {
  const std::string detail = hdf5_error_detail();
  HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": ", call, " failed",
                   what.empty() ? "" : " (", what, what.empty() ? "" : ")", detail);
}

hid_t check_id(hid_t id, const char* call, const std::string& path, const std::string& what = "") {
  if (id < 0) fail_hdf5(call, path, what);
  return id;
}

void check_status(herr_t status, const char* call, const std::string& path,
                  const std::string& what = "") {
  if (status < 0) fail_hdf5(call, path, what);
}

[[noreturn]] void fail_errno(const char* call, const std::string& path) {
  const int err = errno;
  HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint: ", call, " ", path,
                   " failed: ", std::strerror(err));
}

// Owns one HDF5 identifier and closes it on scope exit, so an exception
// thrown half-way through a file leaks nothing.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), close_(other.close_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
      close_ = other.close_;
    }
    return *this;
  }

  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: handles pass straight to the C API

  // Closes now and reports whether that worked. Never retried: after a
  // failed H5Fclose the ID is dead (see the write driver below).
  herr_t close() {
    const hid_t id = std::exchange(id_, H5I_INVALID_HID);
    return id >= 0 ? close_(id) : 0;
  }

 private:
  void reset() {
    if (id_ >= 0) close_(std::exchange(id_, H5I_INVALID_HID));
  }

  hid_t id_;
  Closer close_;
};

Handle open_file_handle(hid_t id, const char* call, const std::string& path) {
  return Handle(check_id(id, call, path), H5Fclose);
}

// ---- the write driver
//
// Files are written through this small POSIX driver instead of HDF5's sec2
// because of how HDF5 1.10 handles a failed write: if H5Fclose cannot write
// its last metadata (a full disk, say), it frees the file but leaves its ID
// registered, leaking its caches and crashing the library's atexit cleanup.
// So this driver never fails a write or truncate: it records the first
// failure in the writer's WriteStatus and drops that and every later write.
// The writer checks the status after each stripe and after the close, and
// throws; the closes of the doomed file then succeed like any other.

struct WriteStatus {
  int error = 0;  // errno of the first failure; 0 while none
  const char* call = "";
  uint64_t offset = 0;
  std::string path;

  void check() const {
    if (error == 0) return;
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": ", call, " at offset ",
                     offset, " failed: ", std::strerror(error));
  }
};

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

// ---- attributes

void write_attr(hid_t obj, const char* name, hid_t file_type, hid_t mem_type, const void* value,
                const std::string& path) {
  Handle space(check_id(H5Screate(H5S_SCALAR), "H5Screate", path, name), H5Sclose);
  Handle attr(check_id(H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT),
                       "H5Acreate2", path, name),
              H5Aclose);
  check_status(H5Awrite(attr, mem_type, value), "H5Awrite", path, name);
}

void write_int_attr(hid_t obj, const char* name, int32_t value, const std::string& path) {
  write_attr(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &value, path);
}
void write_int64_attr(hid_t obj, const char* name, int64_t value, const std::string& path) {
  write_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, path);
}
void write_double_attr(hid_t obj, const char* name, double value, const std::string& path) {
  write_attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, path);
}
void write_string_attr(hid_t obj, const char* name, const std::string& value,
                       const std::string& path) {
  Handle type(check_id(H5Tcopy(H5T_C_S1), "H5Tcopy", path, name), H5Tclose);
  check_status(H5Tset_size(type, std::max<size_t>(value.size(), 1)), "H5Tset_size", path, name);
  check_status(H5Tset_strpad(type, H5T_STR_NULLPAD), "H5Tset_strpad", path, name);
  std::string padded = value;
  padded.resize(std::max<size_t>(value.size(), 1), '\0');
  write_attr(obj, name, type, type, padded.data(), path);
}

// Opens attribute `name` of `where`, checking it exists, holds one value and
// is of the expected type class (so a float is never silently truncated
// into an int).
Handle open_attr(hid_t obj, const char* name, H5T_class_t expected, const std::string& path,
                 const std::string& where) {
  const htri_t exists = H5Aexists(obj, name);
  if (exists < 0) fail_hdf5("H5Aexists", path, where + " attribute " + name);
  if (exists == 0) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": ", where,
                     " lacks attribute '", name, "'");
  }
  Handle attr(check_id(H5Aopen(obj, name, H5P_DEFAULT), "H5Aopen", path, name), H5Aclose);
  Handle space(check_id(H5Aget_space(attr), "H5Aget_space", path, name), H5Sclose);
  const hssize_t points = H5Sget_simple_extent_npoints(space);
  Handle type(check_id(H5Aget_type(attr), "H5Aget_type", path, name), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type);
  if (points != 1 || cls != expected) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": ", where,
                     " attribute '", name, "' is not a single ",
                     expected == H5T_INTEGER ? "integer"
                     : expected == H5T_FLOAT ? "float"
                                             : "string");
  }
  return attr;
}

int64_t read_int_attr(hid_t obj, const char* name, const std::string& path,
                      const std::string& where) {
  Handle attr = open_attr(obj, name, H5T_INTEGER, path, where);
  int64_t value = 0;
  check_status(H5Aread(attr, H5T_NATIVE_INT64, &value), "H5Aread", path, name);
  return value;
}

double read_double_attr(hid_t obj, const char* name, const std::string& path,
                        const std::string& where) {
  Handle attr = open_attr(obj, name, H5T_FLOAT, path, where);
  double value = 0;
  check_status(H5Aread(attr, H5T_NATIVE_DOUBLE, &value), "H5Aread", path, name);
  return value;
}

std::string read_string_attr(hid_t obj, const char* name, const std::string& path,
                             const std::string& where) {
  Handle attr = open_attr(obj, name, H5T_STRING, path, where);
  Handle type(check_id(H5Aget_type(attr), "H5Aget_type", path, name), H5Tclose);
  const htri_t variable = H5Tis_variable_str(type);
  const size_t size = H5Tget_size(type);
  if (variable != 0 || size == 0 || size > 1024) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": ", where,
                     " attribute '", name, "' is not a short fixed-length string");
  }
  std::string value(size, '\0');
  check_status(H5Aread(attr, type, value.data()), "H5Aread", path, name);
  value.resize(std::strlen(value.c_str()));
  return value;
}

// ---- datasets

// [rows, cols] of a dataset of rank 1 (cols = 1) or 2.
struct Extent {
  int64_t rows = 0;
  int64_t cols = 1;
};

// Rows per chunk: about kChunkBytes, but not far beyond what the table
// holds (`rows_hint`), since every chunk takes its full size on disk; the
// floor keeps a table that grows during the write from getting tiny chunks.
int64_t chunk_rows(int64_t cols, int64_t elem_bytes, int64_t rows_hint) {
  const int64_t rows = std::min(kChunkBytes / (cols * elem_bytes),
                                std::max<int64_t>(rows_hint, kMinChunkRows));
  return std::clamp<int64_t>(rows, 1, kMaxChunkRows);
}

// An extendible, chunked, checksummed dataset of `rank` 1 ([n]) or 2
// ([n, cols]), created empty.
Handle create_dataset(hid_t group, const char* name, hid_t file_type, int rank, int64_t cols,
                      int64_t rows_hint, const std::string& path) {
  const hsize_t dims[2] = {0, static_cast<hsize_t>(cols)};
  const hsize_t max_dims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(cols)};
  Handle space(check_id(H5Screate_simple(rank, dims, max_dims), "H5Screate_simple", path, name),
               H5Sclose);
  Handle dcpl(check_id(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate", path, name), H5Pclose);
  const int64_t elem_bytes = static_cast<int64_t>(H5Tget_size(file_type));
  const hsize_t chunk[2] = {static_cast<hsize_t>(chunk_rows(cols, elem_bytes, rows_hint)),
                            static_cast<hsize_t>(cols)};
  check_status(H5Pset_chunk(dcpl, rank, chunk), "H5Pset_chunk", path, name);
  // Fletcher32 per chunk: a flipped bit in the data is reported on load
  // instead of silently becoming a wrong embedding.
  check_status(H5Pset_fletcher32(dcpl), "H5Pset_fletcher32", path, name);
  return Handle(check_id(H5Dcreate2(group, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                         "H5Dcreate2", path, name),
                H5Dclose);
}

// The file rows [offset, offset + count) and, in memory, columns
// [col, col + cols) of a [count, mem_cols] buffer: a row or its state
// straight out of the interleaved slots, without a repacking copy.
struct Block {
  int64_t offset;
  int64_t count;
  int64_t mem_cols;
  int64_t col;
  int64_t cols;
};

void select_block(hid_t file_space, const Block& b, int rank, const std::string& path,
                  const char* name, Handle* mem_space) {
  const hsize_t file_start[2] = {static_cast<hsize_t>(b.offset), 0};
  const hsize_t count[2] = {static_cast<hsize_t>(b.count), static_cast<hsize_t>(b.cols)};
  check_status(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, file_start, nullptr, count, nullptr),
               "H5Sselect_hyperslab", path, name);
  const hsize_t mem_dims[2] = {static_cast<hsize_t>(b.count), static_cast<hsize_t>(b.mem_cols)};
  const hsize_t mem_start[2] = {0, static_cast<hsize_t>(b.col)};
  *mem_space = Handle(check_id(H5Screate_simple(rank, mem_dims, nullptr), "H5Screate_simple",
                               path, name),
                      H5Sclose);
  check_status(
      H5Sselect_hyperslab(*mem_space, H5S_SELECT_SET, mem_start, nullptr, count, nullptr),
      "H5Sselect_hyperslab", path, name);
}

void append_block(hid_t dataset, int rank, hid_t mem_type, const void* buf, const Block& b,
                  const std::string& path, const char* name) {
  const hsize_t new_dims[2] = {static_cast<hsize_t>(b.offset + b.count),
                               static_cast<hsize_t>(b.cols)};
  check_status(H5Dset_extent(dataset, new_dims), "H5Dset_extent", path, name);
  Handle file_space(check_id(H5Dget_space(dataset), "H5Dget_space", path, name), H5Sclose);
  Handle mem_space(H5I_INVALID_HID, H5Sclose);
  select_block(file_space, b, rank, path, name, &mem_space);
  check_status(H5Dwrite(dataset, mem_type, mem_space, file_space, H5P_DEFAULT, buf), "H5Dwrite",
               path, name);
}

void read_block(hid_t dataset, int rank, hid_t mem_type, void* buf, const Block& b,
                const std::string& path, const std::string& name) {
  Handle file_space(check_id(H5Dget_space(dataset), "H5Dget_space", path, name), H5Sclose);
  Handle mem_space(H5I_INVALID_HID, H5Sclose);
  select_block(file_space, b, rank, path, name.c_str(), &mem_space);
  check_status(H5Dread(dataset, mem_type, mem_space, file_space, H5P_DEFAULT, buf), "H5Dread",
               path, name);
}

// Opens dataset `name` of a table group and checks its type class and rank.
Handle open_dataset(hid_t group, const char* name, H5T_class_t expected, int rank,
                    const std::string& path, const std::string& table, Extent* extent) {
  const std::string what = "table '" + table + "' dataset '" + name + "'";
  const htri_t exists = H5Lexists(group, name, H5P_DEFAULT);
  if (exists < 0) fail_hdf5("H5Lexists", path, what);
  if (exists == 0) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": ", what, " is missing");
  }
  Handle dataset(check_id(H5Dopen2(group, name, H5P_DEFAULT), "H5Dopen2", path, what), H5Dclose);
  Handle type(check_id(H5Dget_type(dataset), "H5Dget_type", path, what), H5Tclose);
  Handle space(check_id(H5Dget_space(dataset), "H5Dget_space", path, what), H5Sclose);
  const int ndims = H5Sget_simple_extent_ndims(space);
  if (H5Tget_class(type) != expected || ndims != rank) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": ", what, " is not a ",
                     rank, "-d ", expected == H5T_INTEGER ? "integer" : "float", " array");
  }
  hsize_t dims[2] = {0, 1};
  if (H5Sget_simple_extent_dims(space, dims, nullptr) < 0) {
    fail_hdf5("H5Sget_simple_extent_dims", path, what);
  }
  extent->rows = static_cast<int64_t>(dims[0]);
  extent->cols = rank == 2 ? static_cast<int64_t>(dims[1]) : 1;
  return dataset;
}

// ---- paths and plain files

void check_name(const std::string& root, const std::string& name) {
  if (root.empty()) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint root is empty");
  }
  // A name is one directory under root, never a path out of it.
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint name '", name,
                     "' must be a single non-empty path component");
  }
}

void check_shard(ShardId shard) {
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "invalid shard ", shard.index, " of ", shard.count);
  }
}

std::string shard_file_name(int index, int count) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "shard-%05d-of-%05d.h5", index, count);
  return buf;
}

std::string temp_path_for(const std::string& final_path) {
  // The counter keeps two writers of one process (a periodic and a final
  // "latest", say) off each other's temporary file.
  static std::atomic<uint64_t> sequence{0};
  return final_path + ".tmp-" + std::to_string(::getpid()) + "." +
         std::to_string(sequence.fetch_add(1));
}

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) fail_errno("open for fsync", path);
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    fail_errno("fsync", path);
  }
  ::close(fd);
}

// Makes a fully written temporary file the final one: its data reaches the
// disk before the rename, and the rename reaches it before we return.
void commit_file(const std::string& temp, const std::string& final_path) {
  fsync_path(temp, false);
  if (::rename(temp.c_str(), final_path.c_str()) != 0) {
    fail_errno("rename", temp + " to " + final_path);
  }
  fsync_path(fs::path(final_path).parent_path().string(), true);
}

// Runs write(temp) then commits temp to final_path; on any failure removes
// temp, leaving whatever final_path held before.
template <typename WriteFn>
void write_atomically(const std::string& final_path, WriteFn&& write) {
  const std::string temp = temp_path_for(final_path);
  try {
    write(temp);
    commit_file(temp, final_path);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
}

void write_manifest(const std::string& dir, int64_t version, int num_shards) {
  const std::string path = dir + "/" + kManifestName;
  const std::string text = std::string(kManifestMagic) + " " + std::to_string(kFormatVersion) +
                           "\nversion " + std::to_string(version) + "\nnum_shards " +
                           std::to_string(num_shards) + "\n";
  write_atomically(path, [&](const std::string& temp) {
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail_errno("open", temp);
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        ::close(fd);
        errno = err;
        fail_errno("write", temp);
      }
      done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0) fail_errno("close", temp);
  });
}

struct Manifest {
  int64_t version = -1;
  int num_shards = 0;
};

Manifest read_manifest(const std::string& dir) {
  const std::string path = dir + "/" + kManifestName;
  std::error_code ec;
  const bool is_file = fs::is_regular_file(path, ec);
  if (!is_file) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint ", dir, " has no ", kManifestName,
                     " (no checkpoint there, or shard 0 never finished writing it)");
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_errno("open", path);
  std::string text(kMaxManifestBytes + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      errno = err;
      fail_errno("read", path);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > kMaxManifestBytes) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint manifest ", path, " is larger than ",
                     kMaxManifestBytes, " bytes: not a manifest");
  }
  text.resize(got);

  std::map<std::string, int64_t> fields;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    const std::string key = line.substr(0, space);
    const std::string value = space == std::string::npos ? "" : line.substr(space + 1);
    char* parse_end = nullptr;
    errno = 0;
    const long long number = std::strtoll(value.c_str(), &parse_end, 10);
    const bool known = key == kManifestMagic || key == "version" || key == "num_shards";
    if (!known || value.empty() || errno != 0 || *parse_end != '\0' || fields.count(key) != 0) {
      HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint manifest ", path, " line ", line_no,
                       ": unexpected '", line.substr(0, 80), "'");
    }
    fields[key] = number;
  }
  for (const char* key : {kManifestMagic, "version", "num_shards"}) {
    if (fields.count(key) == 0) {
      HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint manifest ", path, " lacks '", key,
                       "'");
    }
  }
  if (fields[kManifestMagic] != kFormatVersion) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint manifest ", path, ": format ",
                     fields[kManifestMagic], ", this server reads format ", kFormatVersion);
  }
  Manifest manifest;
  manifest.version = fields["version"];
  if (manifest.version < -1 || fields["num_shards"] < 1 || fields["num_shards"] > 99999) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint manifest ", path, ": version ",
                     manifest.version, " or num_shards ", fields["num_shards"], " out of range");
  }
  manifest.num_shards = static_cast<int>(fields["num_shards"]);
  return manifest;
}

// ---- one shard's file

void write_table(hid_t tables, const RowTable& table, const std::string& path,
                 const WriteStatus& status) {
  const TableSpec& spec = table.spec();
  const int64_t dim = spec.dim;
  const int64_t state = state_floats(spec);
  const int64_t slot = table.slot_floats();
  const char* name = spec.name.c_str();
  Handle group(check_id(H5Gcreate2(tables, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                        "H5Gcreate2", path, "table " + spec.name),
               H5Gclose);
  write_int_attr(group, "dim", spec.dim, path);
  write_string_attr(group, "optimizer", optimizer_name(spec.optimizer), path);
  write_double_attr(group, "learning_rate", spec.learning_rate, path);
  write_double_attr(group, "eps", spec.eps, path);
  write_double_attr(group, "beta1", spec.beta1, path);
  write_double_attr(group, "beta2", spec.beta2, path);
  write_double_attr(group, "weight_decay", spec.weight_decay, path);
  write_double_attr(group, "init_scale", spec.init_scale, path);
  write_int64_attr(group, "seed", spec.seed, path);

  // Only a chunk-size hint: pushes may add rows while the snapshot runs.
  const int64_t size = table.size();
  Handle keys = create_dataset(group, "keys", H5T_STD_I64LE, 1, 1, size, path);
  Handle rows = create_dataset(group, "rows", H5T_IEEE_F32LE, 2, dim, size, path);
  Handle states(H5I_INVALID_HID, H5Dclose);
  if (state > 0) states = create_dataset(group, "state", H5T_IEEE_F32LE, 2, state, size, path);

  // One stripe's copy at a time: the memory cost of a checkpoint is one
  // stripe, not a second copy of the table.
  int64_t written = 0;
  table.snapshot([&](const int64_t* stripe_keys, const float* slots, int64_t count) {
    append_block(keys, 1, H5T_NATIVE_INT64, stripe_keys, Block{written, count, 1, 0, 1}, path,
                 "keys");
    append_block(rows, 2, H5T_NATIVE_FLOAT, slots, Block{written, count, slot, 0, dim}, path,
                 "rows");
    if (state > 0) {
      append_block(states, 2, H5T_NATIVE_FLOAT, slots, Block{written, count, slot, dim, state},
                   path, "state");
    }
    written += count;
    // A failed write stops the checkpoint within a stripe of it.
    status.check();
  });
}

// Properties for reading (HDF5's sec2 driver) or, given a status, for
// writing through the write driver.
Handle file_access_props(const std::string& path, WriteStatus* write_status = nullptr) {
  Handle fapl(check_id(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate", path), H5Pclose);
  if (write_status != nullptr) {
    const WriteDriverInfo info{write_status};
    check_status(H5Pset_driver(fapl, check_id(write_driver(), "H5FDregister", path), &info),
                 "H5Pset_driver", path);
  }
  // The 1.8+ object format checksums the file's metadata, so a damaged
  // header is reported as such on load.
  check_status(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST),
               "H5Pset_libver_bounds", path);
  // Files are written under a private temporary name and replaced by
  // rename, so HDF5's own locks add nothing; they only fail on file
  // systems without flock.
  check_status(H5Pset_file_locking(fapl, false, true), "H5Pset_file_locking", path);
  return fapl;
}

void write_shard_file(const std::string& path, int64_t version, ShardId shard,
                      const RowStore& store) {
  Hdf5Lock lock;
  WriteStatus status;  // outlives every handle: their closes report to it
  status.path = path;
  try {
    Handle fapl = file_access_props(path, &status);
    Handle file = open_file_handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl),
                                   "H5Fcreate", path);
    write_int_attr(file, "format_version", kFormatVersion, path);
    write_int64_attr(file, "version", version, path);
    write_int_attr(file, "shard_index", shard.index, path);
    write_int_attr(file, "num_shards", shard.count, path);
    {
      Handle tables(check_id(H5Gcreate2(file, "tables", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                             "H5Gcreate2", path, "/tables"),
                    H5Gclose);
      for (const RowTable* table : store.tables()) write_table(tables, *table, path, status);
    }
    check_status(H5Fflush(file, H5F_SCOPE_LOCAL), "H5Fflush", path);
    check_status(file.close(), "H5Fclose", path);
  } catch (const RequestError&) {
    // After a dropped write HDF5 may trip over what it cannot read back;
    // the write that failed is the error to report.
    status.check();
    throw;
  }
  status.check();
}

// Reads a table's spec from its group's attributes.
TableSpec read_spec(hid_t group, const std::string& name, const std::string& path) {
  const std::string where = "table '" + name + "'";
  TableSpec spec;
  spec.name = name;
  const int64_t dim = read_int_attr(group, "dim", path, where);
  const std::string optimizer = read_string_attr(group, "optimizer", path, where);
  spec.learning_rate = read_double_attr(group, "learning_rate", path, where);
  spec.eps = read_double_attr(group, "eps", path, where);
  spec.beta1 = read_double_attr(group, "beta1", path, where);
  spec.beta2 = read_double_attr(group, "beta2", path, where);
  spec.weight_decay = read_double_attr(group, "weight_decay", path, where);
  spec.init_scale = read_double_attr(group, "init_scale", path, where);
  spec.seed = read_int_attr(group, "seed", path, where);
  try {
    if (dim < 1 || dim > kMaxDim) {
      HYBREC_PS_REJECT(ErrorCode::kBadSpec, "dim ", dim, " out of range [1, ", kMaxDim, "]");
    }
    spec.dim = static_cast<int32_t>(dim);
    spec.optimizer = parse_optimizer(optimizer);
    validate(spec);
  } catch (const RequestError& e) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": ", where,
                     " has an invalid spec: ", e.what());
  }
  return spec;
}

// What a load has gathered so far: the specs seen (and where first seen)
// and the rows restored per table, to catch keys stored twice.
struct LoadState {
  std::map<std::string, std::pair<TableSpec, std::string>> specs;
  std::map<std::string, int64_t> restored;
};

void read_table(hid_t tables, const std::string& name, const std::string& path, bool resharding,
                ShardId shard, const Slicer& slicer, const RowStore& current, RowStore& out,
                LoadState& load) {
  Handle group(check_id(H5Gopen2(tables, name.c_str(), H5P_DEFAULT), "H5Gopen2", path,
                        "table '" + name + "'"),
               H5Gclose);
  const TableSpec spec = read_spec(group, name, path);

  auto [seen, inserted] = load.specs.try_emplace(name, spec, path);
  if (!inserted && seen->second.first != spec) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": table '", name,
                     "' is ", describe(spec), " but ", seen->second.second, " has it as ",
                     describe(seen->second.first));
  }
  if (const RowTable* live = current.find_table(name)) {
    const TableSpec& now = live->spec();
    if (now.dim != spec.dim) {
      HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": table '", name,
                       "' has dim ", spec.dim, " but this server has it with dim ", now.dim);
    }
    if (now.optimizer != spec.optimizer) {
      HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": table '", name,
                       "' has optimizer ", optimizer_name(spec.optimizer),
                       " but this server has it with optimizer ", optimizer_name(now.optimizer));
    }
  }
  RowTable& table = out.create_table(spec);
  const int64_t dim = spec.dim;
  const int64_t state = state_floats(spec);
  const int64_t slot = table.slot_floats();

  Extent key_extent, row_extent, state_extent;
  Handle keys = open_dataset(group, "keys", H5T_INTEGER, 1, path, name, &key_extent);
  Handle rows = open_dataset(group, "rows", H5T_FLOAT, 2, path, name, &row_extent);
  Handle states(H5I_INVALID_HID, H5Dclose);
  const int64_t n = key_extent.rows;
  if (row_extent.rows != n || row_extent.cols != dim) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": table '", name,
                     "' rows are [", row_extent.rows, ", ", row_extent.cols, "], expected [", n,
                     ", ", dim, "] (", n, " keys, dim ", dim, ")");
  }
  if (state > 0) {
    states = open_dataset(group, "state", H5T_FLOAT, 2, path, name, &state_extent);
    if (state_extent.rows != n || state_extent.cols != state) {
      HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": table '", name,
                       "' state is [", state_extent.rows, ", ", state_extent.cols,
                       "], expected [", n, ", ", state, "] for ", optimizer_name(spec.optimizer));
    }
  } else {
    const htri_t has_state = H5Lexists(group, "state", H5P_DEFAULT);
    if (has_state < 0) fail_hdf5("H5Lexists", path, "table '" + name + "' dataset 'state'");
    if (has_state > 0) {
      HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": table '", name,
                       "' has a state dataset, but ", optimizer_name(spec.optimizer),
                       " keeps no state");
    }
  }

  const int64_t block_rows = std::clamp<int64_t>(
      kReadBlockBytes / (slot * static_cast<int64_t>(sizeof(float))), 1, kMaxReadBlockRows);
  std::vector<int64_t> key_buf(static_cast<size_t>(std::min(n, block_rows)));
  std::vector<float> slot_buf(key_buf.size() * static_cast<size_t>(slot));
  int64_t& restored = load.restored[name];
  for (int64_t offset = 0; offset < n; offset += block_rows) {
    const int64_t count = std::min(block_rows, n - offset);
    read_block(keys, 1, H5T_NATIVE_INT64, key_buf.data(), Block{offset, count, 1, 0, 1}, path,
               "table '" + name + "' keys");
    read_block(rows, 2, H5T_NATIVE_FLOAT, slot_buf.data(), Block{offset, count, slot, 0, dim},
               path, "table '" + name + "' rows");
    if (state > 0) {
      read_block(states, 2, H5T_NATIVE_FLOAT, slot_buf.data(),
                 Block{offset, count, slot, dim, state}, path, "table '" + name + "' state");
    }
    // Keep this shard's keys, compacting in place.
    int64_t kept = 0;
    for (int64_t i = 0; i < count; ++i) {
      const int64_t key = key_buf[i];
      const int owner = slicer.shard_of(key);
      if (owner != shard.index) {
        // With the same shard count only this shard's file is read, so a
        // key routed elsewhere would be lost: the checkpoint was written
        // with a different slicer, and dropping it silently is not safe.
        if (!resharding) {
          HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": table '", name,
                           "' key ", key, " belongs to shard ", owner, " of ", shard.count,
                           " under this server's slicer, not to shard ", shard.index,
                           " (written with another slicer?)");
        }
        continue;
      }
      if (kept != i) {
        key_buf[kept] = key;
        std::memmove(slot_buf.data() + kept * slot, slot_buf.data() + i * slot,
                     sizeof(float) * slot);
      }
      ++kept;
    }
    table.restore(key_buf.data(), kept, slot_buf.data());
    restored += kept;
  }
}

void read_shard_file(const std::string& path, const Manifest& manifest, int file_index,
                     bool resharding, ShardId shard, const Slicer& slicer,
                     const RowStore& current, RowStore& out, LoadState& load) {
  Hdf5Lock lock;
  Handle fapl = file_access_props(path);
  Handle file = open_file_handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl), "H5Fopen", path);
  const int64_t format = read_int_attr(file, "format_version", path, "root");
  const int64_t version = read_int_attr(file, "version", path, "root");
  const int64_t index = read_int_attr(file, "shard_index", path, "root");
  const int64_t count = read_int_attr(file, "num_shards", path, "root");
  if (format != kFormatVersion) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": format_version ", format,
                     ", this server reads format ", kFormatVersion);
  }
  if (version != manifest.version) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": version ", version,
                     " but the manifest says version ", manifest.version,
                     " (a shard's file from another save)");
  }
  if (index != file_index || count != manifest.num_shards) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": written as shard ",
                     index, " of ", count, ", expected shard ", file_index, " of ",
                     manifest.num_shards);
  }
  const htri_t has_tables = H5Lexists(file, "tables", H5P_DEFAULT);
  if (has_tables <= 0) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": no /tables group");
  }
  Handle tables(check_id(H5Gopen2(file, "tables", H5P_DEFAULT), "H5Gopen2", path, "/tables"),
                H5Gclose);
  H5G_info_t info;
  check_status(H5Gget_info(tables, &info), "H5Gget_info", path, "/tables");
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t size = H5Lget_name_by_idx(tables, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr,
                                            0, H5P_DEFAULT);
    if (size < 0) fail_hdf5("H5Lget_name_by_idx", path, "/tables");
    std::string name(static_cast<size_t>(size) + 1, '\0');
    if (H5Lget_name_by_idx(tables, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                           H5P_DEFAULT) < 0) {
      fail_hdf5("H5Lget_name_by_idx", path, "/tables");
    }
    name.resize(static_cast<size_t>(size));
    read_table(tables, name, path, resharding, shard, slicer, current, out, load);
  }
}

}  // namespace

std::string checkpoint_name(int64_t version) {
  if (version < 0) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint version must be >= 0, got ", version);
  }
  return "v" + std::to_string(version);
}

void write_checkpoint(const std::string& root, const std::string& name, int64_t version,
                      ShardId shard, const RowStore& store) {
  check_name(root, name);
  check_shard(shard);
  // "latest" may carry -1: a shard that never saved or loaded a version.
  const int64_t min_version = name == kLatestCheckpoint ? -1 : 0;
  if (version < min_version) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint version must be >= ", min_version,
                     ", got ", version);
  }
  const std::string dir = (fs::path(root) / name).string();
  std::error_code ec;
  const bool created = fs::create_directories(dir, ec);
  if (ec) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "cannot create checkpoint directory ", dir, ": ",
                     ec.message());
  }
  // A new directory's own entry must be durable too, or a crash could lose
  // the whole checkpoint after its files were synced.
  if (created) fsync_path(fs::path(dir).parent_path().string(), true);
  const std::string path = dir + "/" + shard_file_name(shard.index, shard.count);
  write_atomically(path, [&](const std::string& temp) {
    write_shard_file(temp, version, shard, store);
  });
  // The manifest goes last, so shard 0 never announces a checkpoint whose
  // own file failed.
  if (shard.index == 0) write_manifest(dir, version, shard.count);
}

bool checkpoint_exists(const std::string& root, const std::string& name) {
  check_name(root, name);
  std::error_code ec;
  return fs::is_regular_file(fs::path(root) / name / kManifestName, ec);
}

LoadedCheckpoint read_checkpoint(const std::string& root, const std::string& name, ShardId shard,
                                 const Slicer& slicer, const RowStore& current) {
  check_name(root, name);
  check_shard(shard);
  if (slicer.num_shards() != shard.count) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "slicer has ", slicer.num_shards(),
                     " shards but this server is shard ", shard.index, " of ", shard.count);
  }
  const std::string dir = (fs::path(root) / name).string();
  const Manifest manifest = read_manifest(dir);
  const bool resharding = manifest.num_shards != shard.count;

  std::vector<int> files;
  if (resharding) {
    for (int i = 0; i < manifest.num_shards; ++i) files.push_back(i);
  } else {
    files.push_back(shard.index);
  }
  // Every file must be there before any is read: a missing one is reported
  // as such, not as whatever the first read happens to trip over.
  for (int i : files) {
    const std::string path = dir + "/" + shard_file_name(i, manifest.num_shards);
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, " is missing",
                       resharding ? " (resharding from " : "",
                       resharding ? std::to_string(manifest.num_shards) : "",
                       resharding ? " to " : "", resharding ? std::to_string(shard.count) : "",
                       resharding ? " shards reads every shard's file)" : "");
    }
  }

  LoadedCheckpoint loaded;
  loaded.store = std::make_unique<RowStore>();
  loaded.version = manifest.version;
  loaded.written_by_shards = manifest.num_shards;
  LoadState load;
  for (int i : files) {
    const std::string path = dir + "/" + shard_file_name(i, manifest.num_shards);
    read_shard_file(path, manifest, i, resharding, shard, slicer, current, *loaded.store, load);
  }
  // Keys are unique within a table, so fewer distinct rows than rows read
  // means some key was stored twice: a damaged or mixed-up checkpoint.
  for (const auto& [table_name, restored] : load.restored) {
    const int64_t distinct = loaded.store->table(table_name).size();
    if (distinct != restored) {
      HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint ", dir, ": table '", table_name,
                       "' holds ", restored, " rows for this shard but only ", distinct,
                       " distinct keys");
    }
  }
  return loaded;
}

}  // namespace hybrec::ps
