#include "hybrec/kernels/host_memory.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "hybrec/kernels/error.h"

namespace hybrec::kernels {

int64_t available_host_memory_bytes(std::string* source) {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    long long kib = 0;
    if (std::sscanf(line.c_str(), "MemAvailable: %lld kB", &kib) == 1 && kib > 0) {
      if (source != nullptr) *source = "MemAvailable in /proc/meminfo";
      return static_cast<int64_t>(kib) * 1024;
    }
  }
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGE_SIZE);
  if (source != nullptr) *source = "physical memory";
  if (pages <= 0 || page_size <= 0) return INT64_MAX;  // unknown: do not refuse
  return static_cast<int64_t>(pages) * static_cast<int64_t>(page_size);
}

std::string format_bytes(double bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 6) {
    bytes /= 1024.0;
    ++unit;
  }
  char text[64];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return text;
}

void check_host_memory(double needed_bytes, const std::string& what) {
  std::string source;
  const int64_t available = available_host_memory_bytes(&source);
  HYBREC_CHECK(needed_bytes <= static_cast<double>(available), what, " needs about ",
               format_bytes(needed_bytes), " (", needed_bytes, " bytes) of memory, more than the ",
               format_bytes(static_cast<double>(available)), " (", available, " bytes) available (",
               source, ")");
}

}  // namespace hybrec::kernels
