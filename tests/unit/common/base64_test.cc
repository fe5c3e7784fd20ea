#include "common/base64.h"

#include <gtest/gtest.h>

namespace gssgate {
namespace {

TEST(Base64, RoundTrip) {
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64Decode("Zm9vYg=="), "foob");
}

}  // namespace
}  // namespace gssgate
