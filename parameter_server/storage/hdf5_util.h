// A small C++ layer over the HDF5 C API: the global HDF5 lock, RAII handles,
// error reporting, scalar attributes and chunked 1-d/2-d datasets read and
// appended in row blocks.
//
// Every failure throws an error whose message starts with "<kind> file
// <path>: " and names the failed HDF5 call (and, where given, what it was
// working on), followed by the HDF5 error stack's outermost and innermost
// descriptions. The kind is the one the held Lock names ("checkpoint",
// "dataset", ...). The error is a storage::FileError whatever the kind: the
// caller decides what a failed file means (the parameter server answers a
// client with CHECKPOINT, the data layer names the dataset).
//
// The Debian serial HDF5 build is not thread-safe: every function here must
// be called with an hdf5::Lock held, and so must every direct HDF5 call.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "hybrec/kernels/error.h"
#include "parameter_server/storage/file_error.h"

namespace hybrec::storage::hdf5 {

// Holds the process-wide HDF5 lock and keeps the library from printing its
// error stack to stderr; failures are reported through the exceptions below
// instead. `file_kind` (a string literal, e.g. "dataset") names the kind of
// file worked on while the lock is held, in every error message.
class Lock {
 public:
  explicit Lock(const char* file_kind);
  ~Lock();
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
};

// The file kind named by the Lock held now.
const char* file_kind();

// Throws FileError "<file_kind()> file <path>: <detail>". Call with a Lock
// held.
[[noreturn]] void throw_file_error(const std::string& path, const std::string& detail,
                                   const char* file, int line);

// "<outermost>: <innermost>" descriptions of the current HDF5 error stack,
// e.g. "unable to open file: file signature not found", with a leading
// ": ", or "" when the stack is empty. Must be called before any other HDF5
// call, which would clear the stack.
std::string error_detail();

// Throws as throw_file_error() "<kind> file <path>: <call> failed
// (<what>)<error_detail()>"; the parenthesis is left out when `what` is empty.
[[noreturn]] void fail(const char* call, const std::string& path, const std::string& what);

// Returns `id`, or throws as fail() when it is negative (a failed call).
hid_t check_id(hid_t id, const char* call, const std::string& path, const std::string& what = "");

// Throws as fail() when `status` is negative (a failed call).
void check_status(herr_t status, const char* call, const std::string& path,
                  const std::string& what = "");

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
  // failed H5Fclose the ID is dead (see hdf5_write_driver.h).
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

// A Handle closed by H5Fclose for the file `id` that H5Fopen/H5Fcreate
// (named by `call`) returned; throws as check_id() when it failed.
Handle open_file_handle(hid_t id, const char* call, const std::string& path);

// ---- attributes

// Create scalar attribute `name` on object `obj` (a file or group) and
// write `value` to it: little-endian int32, int64 and float64, and a
// fixed-length null-padded string (at least one byte long). The attribute
// must not exist yet.
void write_int_attr(hid_t obj, const char* name, int32_t value, const std::string& path);
void write_int64_attr(hid_t obj, const char* name, int64_t value, const std::string& path);
void write_double_attr(hid_t obj, const char* name, double value, const std::string& path);
void write_string_attr(hid_t obj, const char* name, const std::string& value,
                       const std::string& path);

// Read scalar attribute `name` of `obj`, described as `where` in messages
// (e.g. "root", "table 'x'"). Each throws if the attribute is missing, holds
// more than one value or is not of the expected type class (so a float is
// never silently truncated into an int); read_string_attr also requires a
// fixed-length string of 1 to 1024 bytes and returns it up to its first
// null byte.
int64_t read_int_attr(hid_t obj, const char* name, const std::string& path,
                      const std::string& where);
double read_double_attr(hid_t obj, const char* name, const std::string& path,
                        const std::string& where);
std::string read_string_attr(hid_t obj, const char* name, const std::string& path,
                             const std::string& where);

// ---- datasets

// [rows, cols] of a dataset of rank 1 (cols = 1) or 2.
struct Extent {
  int64_t rows = 0;
  int64_t cols = 1;
};

// The file rows [offset, offset + count) and, in memory, columns
// [col, col + cols) of a [count, mem_cols] buffer: a row or its state
// straight out of the interleaved slots, without a repacking copy.
// For a rank-1 dataset: mem_cols = cols = 1 and col = 0.
struct Block {
  int64_t offset;
  int64_t count;
  int64_t mem_cols;
  int64_t col;
  int64_t cols;
};

// Creates dataset `name` in `group`: extendible, chunked, checksummed
// (Fletcher32 per chunk, so a flipped bit is reported on read), of `rank` 1
// ([n]) or 2 ([n, cols]), stored as `file_type`, created empty. Chunks hold
// about 512 KiB of rows, but not far beyond `rows_hint` rows (the expected
// final row count; only a hint).
Handle create_dataset(hid_t group, const char* name, hid_t file_type, int rank, int64_t cols,
                      int64_t rows_hint, const std::string& path);

// Grows `dataset` (of `rank`, made by create_dataset) to b.offset + b.count
// rows and writes block `b` of `buf`, whose elements are `mem_type`, there.
// `name` names the dataset in messages.
void append_block(hid_t dataset, int rank, hid_t mem_type, const void* buf, const Block& b,
                  const std::string& path, const char* name);

// Reads block `b` of `dataset` (of `rank`) into `buf`, converting to
// `mem_type`; the file rows must exist. Elements of `buf` outside the
// block's columns are left as they were. `name` names the dataset in
// messages.
void read_block(hid_t dataset, int rank, hid_t mem_type, void* buf, const Block& b,
                const std::string& path, const std::string& name);

// Opens dataset `name` of `group`, described in messages as
// "<where> dataset '<name>'" (e.g. where = "table 'x'"), checks that it
// exists, is of type class `expected` (H5T_INTEGER, H5T_FLOAT or
// H5T_STRING) and has rank `rank` (1 or 2), and stores its extent in
// *extent.
Handle open_dataset(hid_t group, const char* name, H5T_class_t expected, int rank,
                    const std::string& path, const std::string& where, Extent* extent);

// ---- variable-length strings

// Creates dataset `name` in `group` holding `values` as a 1-d array of
// variable-length UTF-8 strings (chunked; HDF5 cannot checksum
// variable-length chunks, so only the file's metadata checksums cover them). Strings may be empty
// but must not contain a null byte, which HDF5 would silently cut them at.
void write_strings(hid_t group, const char* name, const std::vector<std::string>& values,
                   const std::string& path);

// Reads the 1-d variable-length string dataset `name` of `group` (checked
// as open_dataset does, described by `where`).
std::vector<std::string> read_strings(hid_t group, const char* name, const std::string& path,
                                      const std::string& where);

}  // namespace hybrec::storage::hdf5

// Throws as throw_file_error(path, <the remaining arguments concatenated>).
#define HYBREC_HDF5_REJECT(path, ...)                                                              \
  ::hybrec::storage::hdf5::throw_file_error(path, ::hybrec::detail::concat(__VA_ARGS__), __FILE__, \
                                            __LINE__)
