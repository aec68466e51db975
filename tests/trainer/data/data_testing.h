// Helpers shared by the data-layer suites: a scratch directory per test
// and small file writers.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "hybrec/kernels/error.h"
#include "trainer/data/builder.h"
#include "testing/temp_dir.h"

namespace hybrec::trainer::testing {

using ScratchDir = hybrec::testing::TempDir;

inline void write_text(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

// Runs `body`, expects it to throw hybrec::Error and returns the message
// ("" and a test failure when nothing is thrown).
template <typename Body>
std::string error_of(Body body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no hybrec::Error thrown";
  return "";
}

// Import options for the importer tests: no cold items, 8 text dims.
inline ImportOptions plain_import_options() {
  ImportOptions options;
  options.cold_fraction = 0;
  options.text_dim = 8;
  return options;
}

}  // namespace hybrec::trainer::testing
