#include "gssgate/ccache_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "common/strings.h"

namespace gssgate::client {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

mode_t modeOf(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777U;
}

class CcacheFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/gssgate-ccache-file-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const char* f : {"/cc", "/existing", "/link", "/dangling", "/target"}) {
      ::unlink((dir_ + f).c_str());
    }
    ::rmdir(dir_.c_str());
  }
  std::string dir_;
};

TEST_F(CcacheFileTest, WritesTheBytesWithMode0600) {
  const std::string path = dir_ + "/cc";
  const std::string bytes("\x05\x04\x00\x00 ticket", 11);
  ASSERT_TRUE(writeCcacheFile(bytes, path).ok());
  EXPECT_EQ(readFile(path), bytes);
  EXPECT_EQ(modeOf(path), 0600U);
}

TEST_F(CcacheFileTest, Is0600WhateverTheUmask) {
  const mode_t old = ::umask(0277);  // would leave 0400
  const absl::Status st = writeCcacheFile("x", dir_ + "/cc");
  ::umask(old);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(modeOf(dir_ + "/cc"), 0600U);
}

TEST_F(CcacheFileTest, RefusesToOverwriteAnExistingFile) {
  const std::string path = dir_ + "/existing";
  std::ofstream(path) << "precious";
  ::chmod(path.c_str(), 0644);
  const absl::Status st = writeCcacheFile("new bytes", path);
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(messageOf(st), strCat(path, " already exists; refusing to overwrite it"));
  EXPECT_EQ(readFile(path), "precious");
  EXPECT_EQ(modeOf(path), 0644U);
}

TEST_F(CcacheFileTest, RefusesASymlinkEvenADanglingOne) {
  const std::string target = dir_ + "/target";
  ASSERT_EQ(::symlink(target.c_str(), (dir_ + "/dangling").c_str()), 0);
  EXPECT_EQ(writeCcacheFile("x", dir_ + "/dangling").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(::access(target.c_str(), F_OK), 0);  // nothing was created through the link

  std::ofstream(target) << "victim";
  ASSERT_EQ(::symlink(target.c_str(), (dir_ + "/link").c_str()), 0);
  EXPECT_EQ(writeCcacheFile("x", dir_ + "/link").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(readFile(target), "victim");
}

TEST_F(CcacheFileTest, AMissingDirectoryIsNotFound) {
  const absl::Status st = writeCcacheFile("x", dir_ + "/no/such/dir/cc");
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(messageOf(st).find("No such file or directory"), std::string::npos) << st;
}

TEST_F(CcacheFileTest, AnEmptyPathIsInvalid) {
  EXPECT_EQ(writeCcacheFile("x", "").code(), absl::StatusCode::kInvalidArgument);
}

TEST(PrivateTempCcachePathTest, IsANewFileInAPrivateDirectory) {
  auto a = privateTempCcachePath();
  auto b = privateTempCcachePath();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(*a, *b);
  for (const std::string& path : {*a, *b}) {
    EXPECT_TRUE(path.ends_with("/ccache")) << path;
    EXPECT_NE(::access(path.c_str(), F_OK), 0) << path;
    const std::string dir = path.substr(0, path.rfind('/'));
    struct stat st {};
    ASSERT_EQ(::lstat(dir.c_str(), &st), 0) << dir;
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777U, 0700U) << dir;
    EXPECT_EQ(st.st_uid, ::geteuid());
    // And a ccache can be written there.
    EXPECT_TRUE(writeCcacheFile("x", path).ok());
    EXPECT_EQ(::unlink(path.c_str()), 0);
    EXPECT_EQ(::rmdir(dir.c_str()), 0);
  }
}

TEST(PrivateTempCcachePathTest, IsUnderXdgRuntimeDirOrTmp) {
  auto path = privateTempCcachePath();
  ASSERT_TRUE(path.ok()) << path.status();
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  const bool under_xdg = xdg != nullptr && xdg[0] == '/' && path->starts_with(std::string(xdg));
  EXPECT_TRUE(under_xdg || path->starts_with("/tmp/gssgate-")) << *path;
  ::rmdir(path->substr(0, path->rfind('/')).c_str());
}

}  // namespace
}  // namespace gssgate::client
