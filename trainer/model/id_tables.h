// The model's two id-embedding tables, by the names the parameter server
// knows them under (pulled by the trainer, by evaluation and by serving).
#pragma once

namespace hybrec::trainer {

inline constexpr const char* kUserTable = "user";
inline constexpr const char* kItemTable = "item";

}  // namespace hybrec::trainer
