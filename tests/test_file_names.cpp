#include <gtest/gtest.h>

#include "sae/store/file_names.hpp"

#include <string>

namespace sae {
namespace {

TEST(FileNames, PairFilesAreNumberedAndRecognised) {
  EXPECT_EQ(pair_file_name(3), "pair_0003.png");
  EXPECT_EQ(pair_file_name(12345), "pair_12345.png");
  EXPECT_TRUE(is_pair_file_name(pair_file_name(0)));
  EXPECT_FALSE(is_pair_file_name("pair_.png"));
  EXPECT_FALSE(is_pair_file_name("pair_0003.png.bak"));
}

TEST(FileNames, StepFilesAreRecognisedOnlyInTheirOwnSpelling) {
  EXPECT_EQ(step_file_name("model", 12), "model-00000012.pt");
  EXPECT_TRUE(is_checkpoint_file_name(step_file_name("optimizer", 123456789)));
  EXPECT_FALSE(is_checkpoint_file_name("model-12.pt"));
  EXPECT_FALSE(is_checkpoint_file_name("model.pt"));
  EXPECT_FALSE(is_checkpoint_file_name("model-final.pt"));
}

TEST(FileNames, AGridPointsFolderNameReadsBackAsItsNumbers) {
  for (const auto& [beta, rho] : {std::pair{0.005, 0.01}, {0.0, 0.2}, {1e-7, 0.999}, {3.0, 1e-5}}) {
    const std::string name = sweep_point_name(beta, rho);
    const auto parsed = parse_sweep_point_name(name);
    ASSERT_TRUE(parsed) << name;
    EXPECT_EQ(parsed->first, beta) << name;
    EXPECT_EQ(parsed->second, rho) << name;
  }
  EXPECT_EQ(sweep_point_name(0.005, 0.01), "beta=0.005_rho=0.01");
}

TEST(FileNames, OtherFolderNamesAreNoGridPoints) {
  for (const char* name : {"beta=0.005", "rho=0.01", "beta=5e-3_rho=0.01", "beta=0.005_rho=0.01x",
                           "beta=_rho=0.01", "beta=0.005_rho=../x", "xbeta=0.005_rho=0.01"}) {
    EXPECT_FALSE(parse_sweep_point_name(name)) << name;
  }
}

}  // namespace
}  // namespace sae
