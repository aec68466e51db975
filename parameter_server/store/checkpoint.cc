#include "parameter_server/store/checkpoint.h"

#include <hdf5.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "parameter_server/storage/atomic_file.h"
#include "parameter_server/storage/hdf5_util.h"
#include "parameter_server/storage/hdf5_write_driver.h"
#include "parameter_server/store/checkpoint_files.h"
#include "parameter_server/wire/errors.h"
#include "parameter_server/wire/table_spec.h"

namespace hybrec::ps {

namespace {

namespace fs = std::filesystem;

// The kind of file in every storage error message of a snapshot.
constexpr const char* kCheckpointFile = "checkpoint";

using storage::hdf5::append_block;
using storage::hdf5::Block;
using storage::hdf5::check_id;
using storage::hdf5::check_status;
using storage::hdf5::create_dataset;
using storage::hdf5::Extent;
using storage::hdf5::Handle;
using storage::hdf5::open_dataset;
using storage::hdf5::open_file_handle;
using storage::hdf5::read_block;
using storage::hdf5::read_double_attr;
using storage::hdf5::read_int_attr;
using storage::hdf5::read_string_attr;
using storage::hdf5::write_double_attr;
using storage::hdf5::write_int64_attr;
using storage::hdf5::write_int_attr;
using storage::hdf5::write_string_attr;
using storage::hdf5::WriteStatus;

// Reads go through a buffer of at most this many bytes (and rows), whatever
// the table's size or the row count a (possibly corrupt) file claims.
constexpr int64_t kReadBlockBytes = 16 * 1024 * 1024;
constexpr int64_t kMaxReadBlockRows = 65536;

// ---- paths

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
  // Format 2: the bounds. Routing is the deployment's (the manifest's shard
  // count), not the file's, so it is not written.
  write_int64_attr(group, "max_rows", spec.max_rows, path);
  write_int_attr(group, "admit_after", spec.admit_after, path);
  write_double_attr(group, "ttl_s", spec.ttl_s, path);

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
  if (write_status != nullptr) storage::hdf5::set_write_driver(fapl, write_status, path);
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
  storage::hdf5::Lock lock(kCheckpointFile);
  WriteStatus status;  // outlives every handle: their closes report to it
  status.path = path;
  try {
    Handle fapl = file_access_props(path, &status);
    Handle file = open_file_handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl),
                                   "H5Fcreate", path);
    write_int_attr(file, "format_version", kCheckpointFormatVersion, path);
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
  // Format 1 files predate the bounds: no cap, no filter, no expiry.
  if (H5Aexists(group, "max_rows") > 0) {
    spec.max_rows = read_int_attr(group, "max_rows", path, where);
    spec.admit_after = static_cast<int32_t>(read_int_attr(group, "admit_after", path, where));
    spec.ttl_s = read_double_attr(group, "ttl_s", path, where);
  }
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
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": table '", name, "' is ",
                     describe(spec), " but ", seen->second.second, " has it as ",
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
  TableSpec here = spec;
  here.num_shards = shard.count;  // keys are routed over the loading shard count
  RowTable& table = out.create_table(here);
  const int64_t dim = spec.dim;
  const int64_t state = state_floats(spec);
  const int64_t slot = table.slot_floats();

  const std::string where = "table '" + name + "'";
  Extent key_extent, row_extent, state_extent;
  Handle keys = open_dataset(group, "keys", H5T_INTEGER, 1, path, where, &key_extent);
  Handle rows = open_dataset(group, "rows", H5T_FLOAT, 2, path, where, &row_extent);
  Handle states(H5I_INVALID_HID, H5Dclose);
  const int64_t n = key_extent.rows;
  if (row_extent.rows != n || row_extent.cols != dim) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": table '", name,
                     "' rows are [", row_extent.rows, ", ", row_extent.cols, "], expected [", n,
                     ", ", dim, "] (", n, " keys, dim ", dim, ")");
  }
  if (state > 0) {
    states = open_dataset(group, "state", H5T_FLOAT, 2, path, where, &state_extent);
    if (state_extent.rows != n || state_extent.cols != state) {
      HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": table '", name,
                       "' state is [", state_extent.rows, ", ", state_extent.cols, "], expected [",
                       n, ", ", state, "] for ", optimizer_name(spec.optimizer));
    }
  } else {
    const htri_t has_state = H5Lexists(group, "state", H5P_DEFAULT);
    if (has_state < 0)
      storage::hdf5::fail("H5Lexists", path, "table '" + name + "' dataset 'state'");
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
    read_block(rows, 2, H5T_NATIVE_FLOAT, slot_buf.data(), Block{offset, count, slot, 0, dim}, path,
               "table '" + name + "' rows");
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

// Returns the version the file records. own_clock: the file may record
// another version than the manifest (see read_checkpoint).
int64_t read_shard_file(const std::string& path, const Manifest& manifest, int file_index,
                        bool own_clock, bool resharding, ShardId shard, const Slicer& slicer,
                        const RowStore& current, RowStore& out, LoadState& load) {
  storage::hdf5::Lock lock(kCheckpointFile);
  Handle fapl = file_access_props(path);
  Handle file = open_file_handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl), "H5Fopen", path);
  const int64_t format = read_int_attr(file, "format_version", path, "root");
  const int64_t version = read_int_attr(file, "version", path, "root");
  const int64_t index = read_int_attr(file, "shard_index", path, "root");
  const int64_t count = read_int_attr(file, "num_shards", path, "root");
  if (format != kCheckpointFormatVersion) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": format_version ", format,
                     ", this server reads format ", kCheckpointFormatVersion);
  }
  if (version != manifest.version && !own_clock) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": version ", version,
                     " but the manifest says version ", manifest.version,
                     " (a shard's file from another save)");
  }
  if (index != file_index || count != manifest.num_shards) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint file ", path, ": written as shard ", index,
                     " of ", count, ", expected shard ", file_index, " of ", manifest.num_shards);
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
    const ssize_t size =
        H5Lget_name_by_idx(tables, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (size < 0) storage::hdf5::fail("H5Lget_name_by_idx", path, "/tables");
    std::string name(static_cast<size_t>(size) + 1, '\0');
    if (H5Lget_name_by_idx(tables, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                           H5P_DEFAULT) < 0) {
      storage::hdf5::fail("H5Lget_name_by_idx", path, "/tables");
    }
    name.resize(static_cast<size_t>(size));
    read_table(tables, name, path, resharding, shard, slicer, current, out, load);
  }
  return version;
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
  const std::string path = dir + "/" + shard_file_name(shard.index, shard.count);
  as_checkpoint_error([&] {
    if (created) storage::fsync_path(fs::path(dir).parent_path().string(), true, kCheckpointFile);
    storage::write_atomically(
        path, [&](const std::string& temp) { write_shard_file(temp, version, shard, store); },
        kCheckpointFile);
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

bool shard_never_saved(const std::string& root, const std::string& name, ShardId shard) {
  check_name(root, name);
  check_shard(shard);
  const std::string dir = (fs::path(root) / name).string();
  if (read_manifest(dir).num_shards != shard.count) return false;
  std::error_code ec;
  return !fs::exists(fs::path(dir) / shard_file_name(shard.index, shard.count), ec);
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
  // Shards write "latest" on their own clocks, and only shard 0 writes its
  // manifest, so a shard's own file may continue from another version than
  // shard 0's: restoring that one file is restoring exactly what the shard
  // held. Reading every file (resharding) would mix states of different
  // versions, and an explicit v<version> is one save: both must agree.
  const bool own_clock = name == kLatestCheckpoint && !resharding;
  for (int i : files) {
    const std::string path = dir + "/" + shard_file_name(i, manifest.num_shards);
    as_checkpoint_error([&] {
      const int64_t version = read_shard_file(path, manifest, i, own_clock, resharding, shard,
                                              slicer, current, *loaded.store, load);
      if (own_clock) loaded.version = version;
    });
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
