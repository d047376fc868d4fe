// The checks of nettrace's option values, shared by the command line (cli.cpp)
// and the filter table (filters.cpp). Each returns "" for a good value, or
// "expected <what the option accepts, in words>, got '<text>' (<why not>)";
// CLI11 puts the option's name in front.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nt {

std::string expected(std::string_view what, std::string_view text, std::string_view why = {});
// Why `s` is not a whole number in [min, max] ("not a number", "too small",
// "too large"), or nullptr when it is one (then in `v`).
const char* whole_in_range(std::string_view s, uint64_t min, uint64_t max, uint64_t& v);
extern const char* const kNotANumber;

CLI::Validator whole_number(std::string what, uint64_t min, uint64_t max);
CLI::Validator seconds(std::string what, double max);
CLI::Validator power_of_two_bytes(std::string what, uint64_t min, uint64_t max);
CLI::Validator one_of(std::vector<std::string> words);
CLI::Validator uid_or_user();
CLI::Validator existing_user();
CLI::Validator creatable_file();
// One --port value, "PORT[,PORT...]": appends to `ports`, or returns the
// message that names the bad item.
std::string parse_port_list(const std::string& text, std::vector<uint16_t>& ports);

} // namespace nt
