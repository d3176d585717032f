// Environment variables, read one way (sae/base/env.hpp): the value, unset, and the refusal that
// names the variable, the value and the range.

#include <gtest/gtest.h>

#include "sae/base/env.hpp"
#include "sae/base/errors.hpp"

#include <cstdlib>
#include <string>

namespace sae {
namespace {

constexpr const char* kName = "SAE_TEST_ENV_INTEGER";  // ours alone: nothing else sets it

/// Sets kName to `value` for the scope, unset after.
class TestVariable {
 public:
  explicit TestVariable(const char* value) { setenv(kName, value, 1); }
  ~TestVariable() { unsetenv(kName); }
  TestVariable(const TestVariable&) = delete;
  TestVariable& operator=(const TestVariable&) = delete;
};

/// env_integer's UsageError for the value in kName, or "" when it accepted it.
std::string refusal(int64_t min, int64_t max) {
  try {
    env_integer(kName, min, max);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(Env, UnsetOrEmptyReadsAsUnset) {
  unsetenv(kName);
  EXPECT_EQ(env_text(kName), std::nullopt);
  EXPECT_EQ(env_integer(kName, 0, 10), std::nullopt);
  EXPECT_EQ(env_integer_if_valid(kName, 0, 10), std::nullopt);
  const TestVariable empty("");
  EXPECT_EQ(env_text(kName), std::nullopt);
  EXPECT_EQ(env_integer(kName, 0, 10), std::nullopt);
}

TEST(Env, IntegersWithinTheRangeAreRead) {
  {
    const TestVariable v("42");
    EXPECT_EQ(env_text(kName), "42");
    EXPECT_EQ(env_integer(kName, 1, 65535), 42);
    EXPECT_EQ(env_integer(kName, 42, 42), 42);  // both ends count
  }
  {
    const TestVariable v("-3");
    EXPECT_EQ(env_integer(kName, -5, 0), -3);
  }
  {
    const TestVariable v("1099511627776");  // 2^40: past int, within int64_t
    EXPECT_EQ(env_integer(kName, 0, int64_t{1} << 41), int64_t{1} << 40);
  }
}

TEST(Env, ARefusalNamesTheVariableTheValueAndTheRange) {
  for (const char* bad : {"x", "12x", "1.5", "3 ", "0x10", "99999999999999999999999"}) {
    const TestVariable v(bad);
    EXPECT_EQ(refusal(1, 65535),
              std::string(kName) + "=" + bad + " is not an integer in [1, 65535]");
  }
  const TestVariable out_of_range("70000");
  EXPECT_EQ(refusal(1, 65535), std::string(kName) + "=70000 is not an integer in [1, 65535]");
  EXPECT_EQ(refusal(0, 69999), std::string(kName) + "=70000 is not an integer in [0, 69999]");
  EXPECT_EQ(refusal(70001, 80000),
            std::string(kName) + "=70000 is not an integer in [70001, 80000]");
}

TEST(Env, IfValidReadsAnythingElseAsUnset) {
  {
    const TestVariable list("4,2");  // OMP_NUM_THREADS may be a list
    EXPECT_EQ(env_integer_if_valid(kName, 1, 1 << 16), std::nullopt);
  }
  {
    const TestVariable zero("0");
    EXPECT_EQ(env_integer_if_valid(kName, 1, 1 << 16), std::nullopt);
    EXPECT_EQ(env_integer_if_valid(kName, 0, 1 << 16), 0);
  }
}

}  // namespace
}  // namespace sae
