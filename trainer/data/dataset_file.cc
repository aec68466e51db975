// The HDF5 side of Dataset: write_dataset, read_dataset and
// write_text_embeddings, through the parameter server's HDF5 layer (its
// lock, handles, checksummed chunked datasets and POSIX write driver) with
// "dataset" as the file kind in messages.
#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "hybrec/kernels/error.h"
#include "parameter_server/storage/atomic_file.h"
#include "parameter_server/storage/hdf5_util.h"
#include "parameter_server/storage/hdf5_write_driver.h"
#include "trainer/data/dataset.h"
#include "trainer/data/dataset_checks.h"

namespace hybrec::trainer {

namespace {

namespace hdf5 = storage::hdf5;
using hdf5::Block;
using hdf5::check_id;
using hdf5::check_status;
using hdf5::Extent;
using hdf5::Handle;

constexpr const char* kFileKind = "dataset";

Handle file_access_props(const std::string& path, hdf5::WriteStatus* write_status) {
  Handle fapl(check_id(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate", path), H5Pclose);
  if (write_status != nullptr) hdf5::set_write_driver(fapl, write_status, path);
  check_status(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST),
               "H5Pset_libver_bounds", path);
  // Written under a private temporary name and renamed; HDF5's own locks
  // add nothing and fail on file systems without flock.
  check_status(H5Pset_file_locking(fapl, false, true), "H5Pset_file_locking", path);
  return fapl;
}

Handle create_group(hid_t parent, const char* name, const std::string& path) {
  // No object times, so the same dataset gives the same file bytes.
  Handle gcpl(check_id(H5Pcreate(H5P_GROUP_CREATE), "H5Pcreate", path, name), H5Pclose);
  check_status(H5Pset_obj_track_times(gcpl, false), "H5Pset_obj_track_times", path, name);
  return Handle(
      check_id(H5Gcreate2(parent, name, H5P_DEFAULT, gcpl, H5P_DEFAULT), "H5Gcreate2", path, name),
      H5Gclose);
}

Handle open_group(hid_t parent, const char* name, const std::string& path) {
  const htri_t exists = H5Lexists(parent, name, H5P_DEFAULT);
  if (exists < 0) hdf5::fail("H5Lexists", path, name);
  if (exists == 0) HYBREC_HDF5_REJECT(path, "group '/", name, "' is missing");
  return Handle(check_id(H5Gopen2(parent, name, H5P_DEFAULT), "H5Gopen2", path, name), H5Gclose);
}

template <typename T>
void write_column(hid_t group, const char* name, hid_t file_type, hid_t mem_type,
                  const std::vector<T>& values, int64_t cols, const std::string& path) {
  const int rank = cols > 1 ? 2 : 1;
  const int64_t rows = static_cast<int64_t>(values.size()) / cols;
  Handle dataset = hdf5::create_dataset(group, name, file_type, rank, cols, rows, path);
  if (rows > 0) {
    hdf5::append_block(dataset, rank, mem_type, values.data(), Block{0, rows, cols, 0, cols}, path,
                       name);
  }
}

// Reads 1-d (cols == 0) or 2-d dataset `name` of `group`; *cols receives
// the column count of a 2-d one.
template <typename T>
std::vector<T> read_column(hid_t group, const char* group_name, const char* name, H5T_class_t cls,
                           hid_t mem_type, const std::string& path, int64_t* cols = nullptr) {
  const int rank = cols != nullptr ? 2 : 1;
  Extent extent;
  Handle dataset = hdf5::open_dataset(group, name, cls, rank, path,
                                      std::string("group '/") + group_name + "'", &extent);
  std::vector<T> values(static_cast<size_t>(extent.rows * extent.cols));
  if (extent.rows > 0) {
    hdf5::read_block(dataset, rank, mem_type, values.data(),
                     Block{0, extent.rows, extent.cols, 0, extent.cols}, path,
                     std::string("/") + group_name + "/" + name);
  }
  if (cols != nullptr) *cols = extent.cols;
  return values;
}

void check_rows(size_t got, int64_t want, const std::string& name, const std::string& of,
                const std::string& path) {
  if (static_cast<int64_t>(got) != want) {
    HYBREC_HDF5_REJECT(path, name, " has ", got, " rows, expected ", want, " (", of, ")");
  }
}

// GROUP/text_emb [rows, dim] with its encoder name, when dim > 0 (a
// [rows, dim] dataset even when dim == 1 or rows == 0).
void write_text_emb(hid_t group, const std::vector<float>& emb, int64_t rows, int64_t dim,
                    const std::string& encoder, const std::string& path) {
  if (dim == 0) return;
  Handle ds = hdf5::create_dataset(group, "text_emb", H5T_IEEE_F32LE, 2, dim, rows, path);
  if (rows > 0) {
    hdf5::append_block(ds, 2, H5T_NATIVE_FLOAT, emb.data(), Block{0, rows, dim, 0, dim}, path,
                       "text_emb");
  }
  hdf5::write_string_attr(ds, "encoder", encoder, path);
}

// Writes `d` into a new HDF5 file `temp`; messages name `path`, the file
// it will become.
void write_file(const Dataset& d, const std::string& temp, const std::string& path) {
  hdf5::WriteStatus status;  // outlives every handle: their closes report to it
  status.path = path;
  try {
    Handle fapl = file_access_props(path, &status);
    // The root group without object times either (a file creation list
    // is a group creation list).
    Handle fcpl(check_id(H5Pcreate(H5P_FILE_CREATE), "H5Pcreate", path), H5Pclose);
    check_status(H5Pset_obj_track_times(fcpl, false), "H5Pset_obj_track_times", path);
    Handle file = hdf5::open_file_handle(H5Fcreate(temp.c_str(), H5F_ACC_EXCL, fcpl, fapl),
                                         "H5Fcreate", path);
    hdf5::write_int_attr(file, "schema_version", kSchemaVersion, path);
    hdf5::write_string_attr(file, "name", d.name, path);
    hdf5::write_int64_attr(file, "num_users", d.num_users, path);
    hdf5::write_int64_attr(file, "num_items", d.num_items, path);
    {
      Handle group = create_group(file, "interactions", path);
      write_column(group, "user", H5T_STD_I64LE, H5T_NATIVE_INT64, d.user, 1, path);
      write_column(group, "item", H5T_STD_I64LE, H5T_NATIVE_INT64, d.item, 1, path);
      write_column(group, "rating", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, d.rating, 1, path);
      write_column(group, "timestamp", H5T_STD_I64LE, H5T_NATIVE_INT64, d.timestamp, 1, path);
      write_column(group, "split", H5T_STD_U8LE, H5T_NATIVE_UINT8, d.split, 1, path);
      status.check();
    }
    {
      Handle group = create_group(file, "items", path);
      write_column(group, "cold", H5T_STD_U8LE, H5T_NATIVE_UINT8, d.item_cold, 1, path);
      hdf5::write_strings(group, "text", d.item_text, path);
      write_text_emb(group, d.item_text_emb, d.num_items, d.text_dim, d.text_encoder, path);
      status.check();
    }
    if (!d.user_text.empty() || d.user_text_dim > 0) {
      Handle group = create_group(file, "users", path);
      if (!d.user_text.empty()) hdf5::write_strings(group, "text", d.user_text, path);
      write_text_emb(group, d.user_text_emb, d.num_users, d.user_text_dim, d.user_text_encoder,
                     path);
      status.check();
    }
    if (!d.pair_text.empty()) {
      Handle group = create_group(file, "pair_text", path);
      write_column(group, "user", H5T_STD_I64LE, H5T_NATIVE_INT64, d.pair_text_user, 1, path);
      write_column(group, "item", H5T_STD_I64LE, H5T_NATIVE_INT64, d.pair_text_item, 1, path);
      hdf5::write_strings(group, "text", d.pair_text, path);
      status.check();
    }
    check_status(H5Fflush(file, H5F_SCOPE_LOCAL), "H5Fflush", path);
    check_status(file.close(), "H5Fclose", path);
  } catch (const Error&) {
    // After a dropped write HDF5 may trip over what it cannot read back;
    // the write that failed is the error to report.
    status.check();
    throw;
  }
  status.check();
}

// /<group_name>/text_emb when present: [rows, dim] float32 and its encoder name.
void read_text_emb(hid_t group, const char* group_name, int64_t rows, const char* rows_name,
                   const std::string& path, std::vector<float>* emb, int64_t* dim,
                   std::string* encoder) {
  const std::string name = std::string("/") + group_name + "/text_emb";
  const htri_t exists = H5Lexists(group, "text_emb", H5P_DEFAULT);
  if (exists < 0) hdf5::fail("H5Lexists", path, name);
  if (exists == 0) return;
  *emb = read_column<float>(group, group_name, "text_emb", H5T_FLOAT, H5T_NATIVE_FLOAT, path, dim);
  if (*dim < 1) HYBREC_HDF5_REJECT(path, name + " has no columns");
  check_rows(emb->size() / static_cast<size_t>(*dim), rows, name.c_str(), rows_name, path);
  Handle ds(check_id(H5Dopen2(group, "text_emb", H5P_DEFAULT), "H5Dopen2", path, "text_emb"),
            H5Dclose);
  *encoder = hdf5::read_string_attr(ds, "encoder", path, name);
}

Dataset read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    HYBREC_HDF5_REJECT(path,
                       std::filesystem::exists(path, ec) ? "not a regular file" : "no such file");
  }
  Handle fapl = file_access_props(path, nullptr);
  Handle file =
      hdf5::open_file_handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl), "H5Fopen", path);
  const int64_t version = hdf5::read_int_attr(file, "schema_version", path, "root");
  if (version != kSchemaVersion) {
    HYBREC_HDF5_REJECT(path, "schema_version ", version, " is not supported (expected ",
                       kSchemaVersion, ")");
  }
  Dataset d;
  d.name = hdf5::read_string_attr(file, "name", path, "root");
  d.num_users = hdf5::read_int_attr(file, "num_users", path, "root");
  d.num_items = hdf5::read_int_attr(file, "num_items", path, "root");
  if (d.num_users < 0 || d.num_items < 0) {
    HYBREC_HDF5_REJECT(path, "negative num_users ", d.num_users, " or num_items ", d.num_items);
  }
  {
    Handle group = open_group(file, "interactions", path);
    const char* g = "interactions";
    d.user = read_column<int64_t>(group, g, "user", H5T_INTEGER, H5T_NATIVE_INT64, path);
    d.item = read_column<int64_t>(group, g, "item", H5T_INTEGER, H5T_NATIVE_INT64, path);
    d.rating = read_column<float>(group, g, "rating", H5T_FLOAT, H5T_NATIVE_FLOAT, path);
    d.timestamp = read_column<int64_t>(group, g, "timestamp", H5T_INTEGER, H5T_NATIVE_INT64, path);
    // Read as bytes first: a code outside the enum is reported, not cast.
    const auto codes = read_column<uint8_t>(group, g, "split", H5T_INTEGER, H5T_NATIVE_UINT8, path);
    const std::string of = "the length of /interactions/user";
    check_rows(d.item.size(), static_cast<int64_t>(d.user.size()), "/interactions/item", of, path);
    check_rows(d.rating.size(), static_cast<int64_t>(d.user.size()), "/interactions/rating", of,
               path);
    check_rows(d.timestamp.size(), static_cast<int64_t>(d.user.size()), "/interactions/timestamp",
               of, path);
    check_rows(codes.size(), static_cast<int64_t>(d.user.size()), "/interactions/split", of, path);
    for (size_t r = 0; r < codes.size(); ++r) {
      if (codes[r] > static_cast<uint8_t>(Split::kCold)) {
        HYBREC_HDF5_REJECT(path, "split code ", int{codes[r]},
                           " out of range [0, 3] in /interactions/split at row ", r);
      }
    }
    d.split.resize(codes.size());
    for (size_t r = 0; r < codes.size(); ++r) d.split[r] = static_cast<Split>(codes[r]);
  }
  {
    Handle group = open_group(file, "items", path);
    d.item_cold = read_column<uint8_t>(group, "items", "cold", H5T_INTEGER, H5T_NATIVE_UINT8, path);
    check_rows(d.item_cold.size(), d.num_items, "/items/cold", "num_items", path);
    d.item_text = hdf5::read_strings(group, "text", path, "group '/items'");
    check_rows(d.item_text.size(), d.num_items, "/items/text", "num_items", path);
    read_text_emb(group, "items", d.num_items, "num_items", path, &d.item_text_emb, &d.text_dim,
                  &d.text_encoder);
  }
  const htri_t has_users = H5Lexists(file, "users", H5P_DEFAULT);
  if (has_users < 0) hdf5::fail("H5Lexists", path, "/users");
  if (has_users > 0) {
    Handle group = open_group(file, "users", path);
    const htri_t has_text = H5Lexists(group, "text", H5P_DEFAULT);
    if (has_text < 0) hdf5::fail("H5Lexists", path, "/users/text");
    if (has_text > 0) {
      d.user_text = hdf5::read_strings(group, "text", path, "group '/users'");
      check_rows(d.user_text.size(), d.num_users, "/users/text", "num_users", path);
    }
    read_text_emb(group, "users", d.num_users, "num_users", path, &d.user_text_emb,
                  &d.user_text_dim, &d.user_text_encoder);
  }
  const htri_t has_pair_text = H5Lexists(file, "pair_text", H5P_DEFAULT);
  if (has_pair_text < 0) hdf5::fail("H5Lexists", path, "/pair_text");
  if (has_pair_text > 0) {
    Handle group = open_group(file, "pair_text", path);
    const char* g = "pair_text";
    d.pair_text_user = read_column<int64_t>(group, g, "user", H5T_INTEGER, H5T_NATIVE_INT64, path);
    d.pair_text_item = read_column<int64_t>(group, g, "item", H5T_INTEGER, H5T_NATIVE_INT64, path);
    d.pair_text = hdf5::read_strings(group, "text", path, "group '/pair_text'");
  }
  return d;
}

}  // namespace

void write_dataset(const Dataset& dataset, const std::string& path) {
  const std::string prefix = std::string(kFileKind) + " file " + path + ": ";
  // Checked before anything touches the disk: an invalid dataset leaves
  // `path` as it was.
  detail::check_dataset(dataset, /*require_splits=*/true, prefix);
  hdf5::Lock lock(kFileKind);
  storage::write_atomically(
      path, [&](const std::string& temp) { write_file(dataset, temp, path); }, kFileKind);
}

Dataset read_dataset(const std::string& path) {
  Dataset d;
  {
    hdf5::Lock lock(kFileKind);
    d = read_file(path);
  }
  detail::check_dataset(d, /*require_splits=*/true,
                        std::string(kFileKind) + " file " + path + ": ");
  detail::build_user_offsets(d);
  return d;
}

void set_text_embeddings(Dataset& d, TextField field, int64_t text_dim, std::vector<float> text_emb,
                         const std::string& encoder) {
  if (field == TextField::kItems) {
    d.text_dim = text_dim;
    d.item_text_emb = std::move(text_emb);
    d.text_encoder = encoder;
  } else {
    d.user_text_dim = text_dim;
    d.user_text_emb = std::move(text_emb);
    d.user_text_encoder = encoder;
  }
}

void write_text_embeddings(const std::string& path, int64_t text_dim,
                           const std::vector<float>& text_emb, const std::string& encoder,
                           TextField field) {
  Dataset d = read_dataset(path);
  set_text_embeddings(d, field, text_dim, text_emb, encoder);
  write_dataset(d, path);
}

}  // namespace hybrec::trainer
