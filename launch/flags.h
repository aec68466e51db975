// A small command-line parser for the `hybrec` subcommands: --name VALUE or
// --name=VALUE, each flag declared with its help text, positional arguments
// kept in order. Unknown flags and malformed values throw hybrec::Error
// naming the flag, so main can print it with the usage and exit non-zero.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hybrec::launch {

class Flags {
 public:
  Flags(std::string command, std::string usage)
      : command_(std::move(command)), usage_(std::move(usage)) {}

  // Declares --name. value_name is what the help shows for its value ("P",
  // "DIR"); empty declares a switch that takes no value.
  void add(const std::string& name, const std::string& value_name, const std::string& help);

  // Parses argv[first..argc).
  void parse(int argc, char** argv, int first);

  bool has(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback) const;
  std::string require(const std::string& name) const;
  int64_t get_int(const std::string& name, int64_t fallback, int64_t lo, int64_t hi) const;
  double get_double(const std::string& name, double fallback, double lo, double hi) const;
  const std::vector<std::string>& positional() const { return positional_; }

  std::string help() const;

 private:
  struct Spec {
    std::string value_name, help;
  };
  std::string command_, usage_;
  std::vector<std::string> order_;
  std::map<std::string, Spec> specs_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace hybrec::launch
