#include "parameter_server/store/row_store.h"

#include <mutex>

#include "parameter_server/wire/errors.h"

namespace hybrec::ps {

RowTable& RowStore::create_table(const TableSpec& spec) {
  validate(spec);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto it = tables_.find(spec.name);
  if (it != tables_.end()) {
    if (it->second->spec() != spec) {
      HYBREC_PS_REJECT(ErrorCode::kTableConflict, "table '", spec.name, "' exists as ",
                       describe(it->second->spec()), "; cannot create it as ", describe(spec));
    }
    return *it->second;
  }
  auto& slot = tables_[spec.name];
  slot = std::make_unique<RowTable>(spec);
  return *slot;
}

RowTable* RowStore::find_table(const std::string& name) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  auto it = tables_.find(name);
  return it == tables_.end() ? nullptr : it->second.get();
}

RowTable& RowStore::table(const std::string& name) const {
  RowTable* t = find_table(name);
  if (t == nullptr) {
    HYBREC_PS_REJECT(ErrorCode::kUnknownTable, "unknown table '", name,
                     "' (create_table it first)");
  }
  return *t;
}

std::vector<const RowTable*> RowStore::tables() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<const RowTable*> out;
  for (const auto& [name, t] : tables_) out.push_back(t.get());
  return out;
}

}  // namespace hybrec::ps
