// hybrec::Error and the argument-check macro used across hybrec.
//
// Library code never exits or aborts on bad input: it throws hybrec::Error
// with a message that names the offending value, and only `main` decides to
// exit. HYBREC_CHECK(cond, parts...) streams `parts` into the message.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace hybrec {

class Error : public std::runtime_error {
 public:
  Error(const std::string& message, const char* file, int line)
      : std::runtime_error(message), file_(file), line_(line) {}
  const char* file() const { return file_; }
  int line() const { return line_; }

 private:
  const char* file_;
  int line_;
};

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

}  // namespace hybrec

#define HYBREC_THROW(...) \
  throw ::hybrec::Error(::hybrec::detail::concat(__VA_ARGS__), __FILE__, __LINE__)

#define HYBREC_CHECK(cond, ...)    \
  do {                             \
    if (!(cond)) {                 \
      HYBREC_THROW(__VA_ARGS__);   \
    }                              \
  } while (0)
