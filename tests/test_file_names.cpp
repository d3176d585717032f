#include <gtest/gtest.h>

#include "sae/store/file_names.hpp"
#include "sae/train/run_config.hpp"

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

/// The settings of a grid point of kind `code`, the others at their defaults.
RunConfig point(CodeKind code) {
  RunConfig config;
  config.code = code;
  return config;
}

TEST(FileNames, ASigmoidGridPointKeepsTheNameItHadBeforeKindsOfCode) {
  RunConfig c = point(CodeKind::kSigmoid);
  EXPECT_EQ(sweep_point_name(c), "beta=0.005_rho=0.01");
  c.beta = 1e-3;
  c.rho = 0.05;
  RunConfig same = c;
  same.beta = 0.001;
  EXPECT_EQ(sweep_point_name(c), "beta=0.001_rho=0.05");
  EXPECT_EQ(sweep_point_name(same), sweep_point_name(c));  // one value, one folder
  c.beta = 0;
  c.rho = 1e-7;
  EXPECT_EQ(sweep_point_name(c), "beta=0_rho=1e-07");
  c.penalty = Penalty::kL1;  // not a swept setting: one sweep holds one penalty
  EXPECT_EQ(sweep_point_name(c), "beta=0_rho=1e-07");
}

TEST(FileNames, OtherKindsAreNamedByTheirKindAndTheSweptSettingsTheyRead) {
  RunConfig relu = point(CodeKind::kRelu);
  relu.beta = 0.01;
  EXPECT_EQ(sweep_point_name(relu), "relu_beta0.01");
  RunConfig topk = point(CodeKind::kTopK);
  topk.k = 8;
  EXPECT_EQ(sweep_point_name(topk), "topk_k8");
  RunConfig batchtopk = point(CodeKind::kBatchTopK);
  batchtopk.k = 16;
  EXPECT_EQ(sweep_point_name(batchtopk), "batchtopk_k16");
  RunConfig jumprelu = point(CodeKind::kJumpRelu);
  jumprelu.l0_coef = 1e-3;
  EXPECT_EQ(sweep_point_name(jumprelu), "jumprelu_l0coef0.001");
  jumprelu.l0_coef = 1e-5;
  EXPECT_EQ(sweep_point_name(jumprelu), "jumprelu_l0coef1e-05");

  // What a kind does not read is not in its name, and equal settings of two kinds name two
  // folders.
  RunConfig topk_with_beta = topk;
  topk_with_beta.beta = 0.5;
  EXPECT_EQ(sweep_point_name(topk_with_beta), "topk_k8");
  batchtopk.k = 8;
  EXPECT_NE(sweep_point_name(batchtopk), sweep_point_name(topk));
  RunConfig sigmoid = point(CodeKind::kSigmoid);
  sigmoid.beta = 0.01;
  EXPECT_NE(sweep_point_name(sigmoid), sweep_point_name(relu));
}

TEST(FileNames, AGridPointsNameIsNeverAPath) {
  for (const Code* kind : code_kinds()) {
    RunConfig c = point(kind->kind());
    c.beta = 1e300;
    c.rho = 0.999999;
    c.k = 64;
    c.l0_coef = 5e-324;
    const std::string name = sweep_point_name(c);
    SCOPED_TRACE(name);
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._=+-"),
              std::string::npos);
    EXPECT_NE(name, ".");
    EXPECT_NE(name, "..");
  }
}

}  // namespace
}  // namespace sae
