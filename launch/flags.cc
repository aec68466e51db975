#include "launch/flags.h"

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "hybrec/kernels/error.h"

namespace hybrec::launch {

void Flags::add(const std::string& name, const std::string& value_name, const std::string& help) {
  order_.push_back(name);
  specs_[name] = Spec{value_name, help};
}

void Flags::parse(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto it = specs_.find(name);
    HYBREC_CHECK(it != specs_.end(), command_, ": unknown flag --", name);
    if (it->second.value_name.empty()) {
      HYBREC_CHECK(!inline_value, command_, ": --", name, " takes no value");
      value = "1";
    } else if (!inline_value) {
      HYBREC_CHECK(i + 1 < argc, command_, ": --", name, " needs a value (", it->second.value_name,
                   ")");
      value = argv[++i];
    }
    values_[name] = value;
  }
}

bool Flags::has(const std::string& name) const { return values_.count(name) != 0; }

std::string Flags::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::string Flags::require(const std::string& name) const {
  auto it = values_.find(name);
  HYBREC_CHECK(it != values_.end(), command_, ": --", name, " is required");
  return it->second;
}

int64_t Flags::get_int(const std::string& name, int64_t fallback, int64_t lo, int64_t hi) const {
  if (!has(name)) return fallback;
  const std::string text = get(name, "");
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  HYBREC_CHECK(!text.empty() && *end == '\0' && errno == 0, command_, ": --", name, " '", text,
               "' is not an integer");
  HYBREC_CHECK(v >= lo && v <= hi, command_, ": --", name, " ", v, " out of range [", lo, ", ", hi,
               "]");
  return v;
}

double Flags::get_double(const std::string& name, double fallback, double lo, double hi) const {
  if (!has(name)) return fallback;
  const std::string text = get(name, "");
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  HYBREC_CHECK(!text.empty() && *end == '\0', command_, ": --", name, " '", text,
               "' is not a number");
  HYBREC_CHECK(v >= lo && v <= hi, command_, ": --", name, " ", v, " out of range [", lo, ", ", hi,
               "]");
  return v;
}

std::string Flags::help() const {
  std::ostringstream out;
  out << "usage: " << usage_ << "\n";
  for (const std::string& name : order_) {
    const Spec& s = specs_.at(name);
    std::string left = "--" + name + (s.value_name.empty() ? "" : " " + s.value_name);
    out << "  " << left << std::string(left.size() < 28 ? 28 - left.size() : 1, ' ') << s.help
        << "\n";
  }
  return out.str();
}

}  // namespace hybrec::launch
