#pragma once
// The one exception type of the library: it carries where the problem is (file, field) so that
// the CLI can print a single line a user can act on.
#include <stdexcept>
#include <string>

namespace perfmamba {

class Error : public std::runtime_error {
 public:
  Error(std::string file, std::string field, const std::string& message);
  const std::string& file() const { return file_; }
  const std::string& field() const { return field_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_, field_, message_;
};

// Throws Error(file, field, message) unless cond holds. For user input, never for invariants.
inline void require(bool cond, const std::string& file, const std::string& field,
                    const std::string& message) {
  if (!cond) throw Error(file, field, message);
}

}  // namespace perfmamba
