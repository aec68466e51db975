// How much host memory this machine has for a new allocation, and the check
// that a command runs before it allocates what a config asks for, so an
// absurd config is an error giving the sizes instead of a bare
// std::bad_alloc (or the kernel's OOM killer) halfway through.
#pragma once

#include <cstdint>
#include <string>

namespace hybrec::kernels {

// Bytes a process may still allocate: /proc/meminfo's MemAvailable when
// readable, else physical memory (sysconf _SC_PHYS_PAGES * _SC_PAGE_SIZE).
// `source` (may be null) receives which of the two it was.
int64_t available_host_memory_bytes(std::string* source = nullptr);

// "12.3 GiB", "512.0 MiB", "980 B": for messages.
std::string format_bytes(double bytes);

// Throws hybrec::Error "<what> needs about N of memory, more than the M
// available (MemAvailable)" when needed_bytes exceeds what is available.
// needed_bytes is a double so that estimates of absurd configs cannot
// overflow.
void check_host_memory(double needed_bytes, const std::string& what);

}  // namespace hybrec::kernels
