#include "parameter_server/storage/hdf5_util.h"

#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace hybrec::storage::hdf5 {

namespace {

// Chunks of ~512 KiB: big enough for sequential I/O, small enough that the
// partially filled chunk of each dataset stays in HDF5's 1 MiB chunk cache
// while stripes are appended one at a time.
constexpr int64_t kChunkBytes = 512 * 1024;
constexpr int64_t kMinChunkRows = 1024;
constexpr int64_t kMaxChunkRows = 65536;

// The Debian serial HDF5 build is not thread-safe; every HDF5 call in
// hybrec runs under this lock.
std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

// The file kind of the Lock held now; guarded by hdf5_mutex().
const char* current_file_kind = "HDF5";

void write_attr(hid_t obj, const char* name, hid_t file_type, hid_t mem_type, const void* value,
                const std::string& path) {
  Handle space(check_id(H5Screate(H5S_SCALAR), "H5Screate", path, name), H5Sclose);
  Handle attr(check_id(H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT),
                       "H5Acreate2", path, name),
              H5Aclose);
  check_status(H5Awrite(attr, mem_type, value), "H5Awrite", path, name);
}

// Opens attribute `name` of `where`, checking it exists, holds one value and
// is of the expected type class (so a float is never silently truncated
// into an int).
Handle open_attr(hid_t obj, const char* name, H5T_class_t expected, const std::string& path,
                 const std::string& where) {
  const htri_t exists = H5Aexists(obj, name);
  if (exists < 0) fail("H5Aexists", path, where + " attribute " + name);
  if (exists == 0) {
    HYBREC_HDF5_REJECT(path, where, " lacks attribute '", name, "'");
  }
  Handle attr(check_id(H5Aopen(obj, name, H5P_DEFAULT), "H5Aopen", path, name), H5Aclose);
  Handle space(check_id(H5Aget_space(attr), "H5Aget_space", path, name), H5Sclose);
  const hssize_t points = H5Sget_simple_extent_npoints(space);
  Handle type(check_id(H5Aget_type(attr), "H5Aget_type", path, name), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type);
  if (points != 1 || cls != expected) {
    HYBREC_HDF5_REJECT(path, where, " attribute '", name, "' is not a single ",
                       expected == H5T_INTEGER ? "integer"
                       : expected == H5T_FLOAT ? "float"
                                               : "string");
  }
  return attr;
}

// Rows per chunk: about kChunkBytes, but not far beyond what the table
// holds (`rows_hint`), since every chunk takes its full size on disk; the
// floor keeps a table that grows during the write from getting tiny chunks.
int64_t chunk_rows(int64_t cols, int64_t elem_bytes, int64_t rows_hint) {
  const int64_t rows =
      std::min(kChunkBytes / (cols * elem_bytes), std::max<int64_t>(rows_hint, kMinChunkRows));
  return std::clamp<int64_t>(rows, 1, kMaxChunkRows);
}

void select_block(hid_t file_space, const Block& b, int rank, const std::string& path,
                  const char* name, Handle* mem_space) {
  const hsize_t file_start[2] = {static_cast<hsize_t>(b.offset), 0};
  const hsize_t count[2] = {static_cast<hsize_t>(b.count), static_cast<hsize_t>(b.cols)};
  check_status(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, file_start, nullptr, count, nullptr),
               "H5Sselect_hyperslab", path, name);
  const hsize_t mem_dims[2] = {static_cast<hsize_t>(b.count), static_cast<hsize_t>(b.mem_cols)};
  const hsize_t mem_start[2] = {0, static_cast<hsize_t>(b.col)};
  *mem_space =
      Handle(check_id(H5Screate_simple(rank, mem_dims, nullptr), "H5Screate_simple", path, name),
             H5Sclose);
  check_status(H5Sselect_hyperslab(*mem_space, H5S_SELECT_SET, mem_start, nullptr, count, nullptr),
               "H5Sselect_hyperslab", path, name);
}

}  // namespace

Lock::Lock(const char* file_kind) : lock_(hdf5_mutex()) {
  current_file_kind = file_kind;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

Lock::~Lock() { current_file_kind = "HDF5"; }

const char* file_kind() { return current_file_kind; }

void throw_file_error(const std::string& path, const std::string& detail, const char* file,
                      int line) {
  throw FileError(current_file_kind, path,
                  detail::concat(current_file_kind, " file ", path, ": ", detail), file, line);
}

std::string error_detail() {
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

void fail(const char* call, const std::string& path, const std::string& what) {
  const std::string detail = error_detail();
  HYBREC_HDF5_REJECT(path, call, " failed", what.empty() ? "" : " (", what, what.empty() ? "" : ")",
                     detail);
}

hid_t check_id(hid_t id, const char* call, const std::string& path, const std::string& what) {
  if (id < 0) fail(call, path, what);
  return id;
}

void check_status(herr_t status, const char* call, const std::string& path,
                  const std::string& what) {
  if (status < 0) fail(call, path, what);
}

Handle open_file_handle(hid_t id, const char* call, const std::string& path) {
  return Handle(check_id(id, call, path), H5Fclose);
}

// ---- attributes

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
    HYBREC_HDF5_REJECT(path, where, " attribute '", name, "' is not a short fixed-length string");
  }
  std::string value(size, '\0');
  check_status(H5Aread(attr, type, value.data()), "H5Aread", path, name);
  value.resize(std::strlen(value.c_str()));
  return value;
}

// ---- datasets

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
  // No creation/modification times in object headers: the same content
  // gives the same file bytes.
  check_status(H5Pset_obj_track_times(dcpl, false), "H5Pset_obj_track_times", path, name);
  return Handle(check_id(H5Dcreate2(group, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                         "H5Dcreate2", path, name),
                H5Dclose);
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
  check_status(H5Dread(dataset, mem_type, mem_space, file_space, H5P_DEFAULT, buf), "H5Dread", path,
               name);
}

// Opens dataset `name` of a group (a table's, say) and checks its type
// class and rank.
Handle open_dataset(hid_t group, const char* name, H5T_class_t expected, int rank,
                    const std::string& path, const std::string& where, Extent* extent) {
  const std::string what = where + " dataset '" + name + "'";
  const htri_t exists = H5Lexists(group, name, H5P_DEFAULT);
  if (exists < 0) fail("H5Lexists", path, what);
  if (exists == 0) {
    HYBREC_HDF5_REJECT(path, what, " is missing");
  }
  Handle dataset(check_id(H5Dopen2(group, name, H5P_DEFAULT), "H5Dopen2", path, what), H5Dclose);
  Handle type(check_id(H5Dget_type(dataset), "H5Dget_type", path, what), H5Tclose);
  Handle space(check_id(H5Dget_space(dataset), "H5Dget_space", path, what), H5Sclose);
  const int ndims = H5Sget_simple_extent_ndims(space);
  if (H5Tget_class(type) != expected || ndims != rank) {
    HYBREC_HDF5_REJECT(path, what, " is not a ", rank, "-d ",
                       expected == H5T_INTEGER ? "integer"
                       : expected == H5T_FLOAT ? "float"
                                               : "string",
                       " array");
  }
  hsize_t dims[2] = {0, 1};
  if (H5Sget_simple_extent_dims(space, dims, nullptr) < 0) {
    fail("H5Sget_simple_extent_dims", path, what);
  }
  extent->rows = static_cast<int64_t>(dims[0]);
  extent->cols = rank == 2 ? static_cast<int64_t>(dims[1]) : 1;
  return dataset;
}

// ---- variable-length strings

namespace {

Handle utf8_string_type(const std::string& path, const char* name) {
  Handle type(check_id(H5Tcopy(H5T_C_S1), "H5Tcopy", path, name), H5Tclose);
  check_status(H5Tset_size(type, H5T_VARIABLE), "H5Tset_size", path, name);
  check_status(H5Tset_cset(type, H5T_CSET_UTF8), "H5Tset_cset", path, name);
  return type;
}

}  // namespace

void write_strings(hid_t group, const char* name, const std::vector<std::string>& values,
                   const std::string& path) {
  Handle type = utf8_string_type(path, name);
  const int64_t n = static_cast<int64_t>(values.size());
  // Like create_dataset but without Fletcher32, which HDF5 refuses on
  // variable-length data (the strings live in the global heap, which the
  // file's metadata checksums cover).
  const hsize_t dims[1] = {0};
  const hsize_t max_dims[1] = {H5S_UNLIMITED};
  Handle space(check_id(H5Screate_simple(1, dims, max_dims), "H5Screate_simple", path, name),
               H5Sclose);
  Handle dcpl(check_id(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate", path, name), H5Pclose);
  const hsize_t chunk[1] = {static_cast<hsize_t>(std::clamp<int64_t>(n, 1, kMinChunkRows * 4))};
  check_status(H5Pset_chunk(dcpl, 1, chunk), "H5Pset_chunk", path, name);
  check_status(H5Pset_obj_track_times(dcpl, false), "H5Pset_obj_track_times", path, name);
  Handle dataset(check_id(H5Dcreate2(group, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                          "H5Dcreate2", path, name),
                 H5Dclose);
  std::vector<const char*> pointers(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].find('\0') != std::string::npos) {
      HYBREC_HDF5_REJECT(path, "string ", i, " of dataset '", name, "' contains a null byte");
    }
    pointers[i] = values[i].c_str();
  }
  if (n > 0) append_block(dataset, 1, type, pointers.data(), Block{0, n, 1, 0, 1}, path, name);
}

std::vector<std::string> read_strings(hid_t group, const char* name, const std::string& path,
                                      const std::string& where) {
  Extent extent;
  Handle dataset = open_dataset(group, name, H5T_STRING, 1, path, where, &extent);
  const std::string what = where + " dataset '" + name + "'";
  Handle file_type(check_id(H5Dget_type(dataset), "H5Dget_type", path, what), H5Tclose);
  if (H5Tis_variable_str(file_type) <= 0) {
    HYBREC_HDF5_REJECT(path, what, " is not of variable-length strings");
  }
  std::vector<std::string> values(static_cast<size_t>(extent.rows));
  if (extent.rows == 0) return values;
  Handle type = utf8_string_type(path, name);
  Handle space(check_id(H5Dget_space(dataset), "H5Dget_space", path, what), H5Sclose);
  std::vector<char*> pointers(values.size(), nullptr);
  check_status(H5Dread(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()), "H5Dread",
               path, what);
  for (size_t i = 0; i < values.size(); ++i) {
    if (pointers[i] != nullptr) values[i] = pointers[i];
  }
  // The strings HDF5 allocated; the copies above are ours.
  check_status(H5Dvlen_reclaim(type, space, H5P_DEFAULT, pointers.data()), "H5Dvlen_reclaim", path,
               what);
  return values;
}

}  // namespace hybrec::storage::hdf5
