#include "tracer/cli_values.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace nt {

// Every value check below returns "" for a good value, or "expected <what the
// option accepts, in words>, got '<text>' (<why not>)". CLI11 puts the option's
// name in front; parse_cli widens that to every spelling ("-d/--duration").
std::string expected(std::string_view what, std::string_view text, std::string_view why) {
  std::string m = "expected " + std::string(what) + ", got '" + std::string(text) + "'";
  if (!why.empty())
    m += " (" + std::string(why) + ")";
  return m;
}

const char* const kNotANumber = "not a number";

// Why `s` is not a whole number in [min, max] ("not a number", "too small",
// "too large"), or nullptr when it is one (then in `v`). Digits only: no sign,
// no spaces, no hex (what a person means by a number of things); a leading '-'
// on digits is a number, just a too small one.
const char* whole_in_range(std::string_view s, uint64_t min, uint64_t max, uint64_t& v) {
  if (s.size() > 1 && s[0] == '-' && s.find_first_not_of("0123456789", 1) == std::string_view::npos)
    return "too small";
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos)
    return kNotANumber;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range)
    return "too large";
  if (ec != std::errc{} || end != s.data() + s.size())
    return kNotANumber;
  return v < min ? "too small" : v > max ? "too large" : nullptr;
}

// A whole number in [min, max].
CLI::Validator whole_number(std::string what, uint64_t min, uint64_t max) {
  return CLI::Validator(
      [what, min, max](std::string& text) -> std::string {
        uint64_t v = 0;
        const char* why = whole_in_range(text, min, max, v);
        return why ? expected(what, text, why) : std::string();
      },
      "", "whole_number");
}

// A positive, finite decimal number of seconds, at most `max`.
CLI::Validator seconds(std::string what, double max) {
  return CLI::Validator(
      [what, max](std::string& text) -> std::string {
        double v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || end != text.data() + text.size() ||
            (ec != std::errc{} && ec != std::errc::result_out_of_range) || std::isnan(v))
          return expected(what, text, "not a number");
        if (ec == std::errc::result_out_of_range) // from_chars leaves v alone: ask strtod which way
          return expected(what, text,
                          std::fabs(std::strtod(text.c_str(), nullptr)) < 1 ? "too small"
                                                                            : "too large");
        if (std::isinf(v) || v > max)
          return expected(what, text, v < 0 ? "too small" : "too large");
        if (v <= 0)
          return expected(what, text, "too small");
        return {};
      },
      "", "seconds");
}

CLI::Validator power_of_two_bytes(std::string what, uint64_t min, uint64_t max) {
  CLI::Validator range = whole_number(what, min, max);
  return CLI::Validator(
      [what, range](std::string& text) -> std::string {
        if (std::string e = range(text); !e.empty())
          return e;
        uint64_t v = std::stoull(text);
        return (v & (v - 1)) == 0 ? std::string() : expected(what, text, "not a power of two");
      },
      "", "power_of_two");
}

// One of a fixed set of words.
CLI::Validator one_of(std::vector<std::string> words) {
  std::string what;
  for (size_t i = 0; i < words.size(); ++i)
    what += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
  return CLI::Validator(
      [what, words](std::string& text) -> std::string {
        for (const auto& w : words)
          if (text == w)
            return {};
        return expected(what, text);
      },
      "", "one_of");
}

// -u: a numeric uid as before, or a user name (as BCC's tools take), resolved
// here from the user database and replaced by its uid.
CLI::Validator uid_or_user() {
  const std::string what = "a user name or a numeric uid from 0 to 4294967294";
  return CLI::Validator(
      [what](std::string& text) -> std::string {
        uint64_t v = 0;
        const char* why = whole_in_range(text, 0, 4294967294u, v);
        if (!why)
          return {};
        if (why != kNotANumber)
          return expected(what, text, why);
        errno = 0;
        const passwd* pw = text.empty() ? nullptr : getpwnam(text.c_str());
        if (!pw)
          return expected(what, text, "no such user on this host");
        text = std::to_string(pw->pw_uid);
        return {};
      },
      "", "uid_or_user");
}

// --user: a user that exists, checked now rather than after every program is
// attached.
CLI::Validator existing_user() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        errno = 0;
        if (!text.empty() && getpwnam(text.c_str()))
          return {};
        return expected("the name of a user that exists here (e.g. nobody)", text,
                        "no such user on this host");
      },
      "", "existing_user");
}

// --ready-file: a path nettrace will be able to create once attached.
CLI::Validator creatable_file() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const std::string what = "a file path in a directory nettrace can write to";
        if (text.empty())
          return expected(what, text, "empty");
        const size_t slash = text.find_last_of('/');
        const std::string dir = slash == std::string::npos ? "."
                                : slash == 0               ? "/"
                                                           : text.substr(0, slash);
        struct stat st {};
        if (stat(dir.c_str(), &st) != 0)
          return expected(what, text, "directory " + dir + ": " + std::strerror(errno));
        if (!S_ISDIR(st.st_mode))
          return expected(what, text, dir + " is not a directory");
        if (access(dir.c_str(), W_OK | X_OK) != 0)
          return expected(what, text, "cannot write in " + dir + ": " + std::strerror(errno));
        if (stat(text.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
          return expected(what, text, "it is a directory");
        if (access(text.c_str(), F_OK) == 0 && access(text.c_str(), W_OK) != 0)
          return expected(what, text, std::string("cannot write it: ") + std::strerror(errno));
        return {};
      },
      "", "creatable_file");
}

// One --port value, "PORT[,PORT...]": each item a whole number from 1 to 65535
// and nothing else (an empty item too is an error). Appends to `ports`; on a
// bad item returns the message that names it, worded like every other value.
std::string parse_port_list(const std::string& text, std::vector<uint16_t>& ports) {
  static const CLI::Validator port =
      whole_number("a port number from 1 to 65535, or a comma-separated list of them", 1, 65535);
  size_t start = 0;
  while (true) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    if (std::string e = port(item); !e.empty())
      return e;
    ports.push_back(uint16_t(std::stoul(item)));
    if (comma == text.size())
      return "";
    start = comma + 1;
  }
}

} // namespace nt
