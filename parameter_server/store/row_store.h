// The tables of one shard, by name.
//
// Tables are created (idempotently) and never dropped, so a RowTable* stays
// valid for the store's lifetime; the map itself is guarded by a
// reader-writer lock taken only to find or create a table, never while rows
// are read or updated.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "parameter_server/store/row_table.h"
#include "parameter_server/wire/table_spec.h"

namespace hybrec::ps {

class RowStore {
 public:
  // Validates spec. Creating an existing table with an equal spec returns it;
  // with another spec throws RequestError(kTableConflict) naming both.
  RowTable& create_table(const TableSpec& spec);

  // Throws RequestError(kUnknownTable) naming the table.
  RowTable& table(const std::string& name) const;
  RowTable* find_table(const std::string& name) const;

  // Tables in name order.
  std::vector<const RowTable*> tables() const;

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::unique_ptr<RowTable>> tables_;
};

}  // namespace hybrec::ps
