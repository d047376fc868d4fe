// The descriptor owners (src/util/unique_fd.h): each closes exactly once, on
// destruction, on reset and on close(); a move hands the descriptor over
// without closing it. A pipe shows it: its read end sees EOF only once every
// write end is closed.
#include "util/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <utility>

namespace nt {
namespace {

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

struct Pipe {
  UniqueFd r, w;
  Pipe() {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    r.reset(p[0]);
    w.reset(p[1]);
  }
  // 0 = EOF (every write end closed); -1 (EAGAIN) = a write end still open.
  ssize_t read_once() {
    char c;
    return ::read(r.get(), &c, 1);
  }
};

TEST(UniqueFd, ClosesOnDestruction) {
  Pipe p;
  int raw = p.w.release();
  {
    UniqueFd owner(raw);
    EXPECT_EQ(owner.get(), raw);
    EXPECT_EQ(p.read_once(), -1);
  }
  EXPECT_EQ(p.read_once(), 0);
  EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFd, ResetClosesTheOldOne) {
  Pipe a, b;
  const int a_w = a.w.get(), b_w = b.w.release();
  a.w.reset(b_w);
  EXPECT_EQ(a.read_once(), 0);
  EXPECT_FALSE(is_open(a_w));
  EXPECT_EQ(a.w.get(), b_w);
  a.w.reset(b_w); // the same descriptor again: kept, not closed
  EXPECT_TRUE(is_open(b_w));
  a.w.reset();
  EXPECT_EQ(b.read_once(), 0);
  EXPECT_FALSE(bool(a.w));
}

TEST(UniqueFd, MovesDoNotDoubleClose) {
  Pipe p;
  const int raw = p.w.get();
  UniqueFd moved(std::move(p.w));
  EXPECT_FALSE(bool(p.w));
  EXPECT_EQ(moved.get(), raw);
  p.w = UniqueFd(); // the moved-from owner goes: nothing closes
  EXPECT_TRUE(is_open(raw));
  UniqueFd assigned;
  assigned = std::move(moved);
  EXPECT_TRUE(is_open(raw));
  EXPECT_EQ(p.read_once(), -1);
  assigned = std::move(assigned); // self-move keeps it
  EXPECT_TRUE(is_open(raw));
  EXPECT_EQ(assigned.close(), 0);
  EXPECT_EQ(p.read_once(), 0);
  EXPECT_EQ(assigned.close(), 0); // nothing held: nothing closed twice
}

TEST(UniqueFile, ClosesItsDescriptor) {
  Pipe p;
  const int raw = p.w.release();
  {
    UniqueFile f(::fdopen(raw, "w"));
    ASSERT_TRUE(f);
    EXPECT_EQ(p.read_once(), -1);
  }
  EXPECT_EQ(p.read_once(), 0);
  EXPECT_FALSE(is_open(raw));
}

} // namespace
} // namespace nt
