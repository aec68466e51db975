// The one error type of the storage layer: a file that could not be read or
// written, with the kind of file ("checkpoint", "dataset", ...) and its path
// kept apart from the message, so a caller can map it to its own error
// (the parameter server answers CHECKPOINT) without parsing text.
#pragma once

#include <string>
#include <utility>

#include "hybrec/kernels/error.h"

namespace hybrec::storage {

class FileError : public Error {
 public:
  FileError(std::string kind, std::string path, const std::string& message, const char* file,
            int line)
      : Error(message, file, line), kind_(std::move(kind)), path_(std::move(path)) {}
  const std::string& kind() const { return kind_; }
  const std::string& path() const { return path_; }

 private:
  std::string kind_;
  std::string path_;
};

}  // namespace hybrec::storage
