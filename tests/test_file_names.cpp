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

TEST(FileNames, AGridPointsFolderNameIsItsNumbersShortestSpelling) {
  EXPECT_EQ(sweep_point_name(0.005, 0.01), "beta=0.005_rho=0.01");
  EXPECT_EQ(sweep_point_name(1e-3, 0.05), sweep_point_name(0.001, 0.05));  // one value, one folder
  EXPECT_EQ(sweep_point_name(0, 1e-7), "beta=0_rho=1e-07");
}

}  // namespace
}  // namespace sae
