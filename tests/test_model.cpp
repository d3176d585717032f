#include <gtest/gtest.h>

#include "sae/model/model.hpp"

#include <map>

namespace sae {
namespace {

TEST(Model, OutputShapesAndRanges) {
  torch::manual_seed(0);
  SparseAutoencoder model;
  const auto images = torch::rand({5, 1, 28, 28});
  const auto out = model->forward(images);
  EXPECT_EQ(out.reconstruction.sizes(), (std::vector<int64_t>{5, 1, 28, 28}));
  EXPECT_EQ(out.code.sizes(), (std::vector<int64_t>{5, kCodeSize}));
  // Both end in a sigmoid.
  EXPECT_GT(out.code.min().item<float>(), 0.0f);
  EXPECT_LT(out.code.max().item<float>(), 1.0f);
  EXPECT_GT(out.reconstruction.min().item<float>(), 0.0f);
  EXPECT_LT(out.reconstruction.max().item<float>(), 1.0f);
  // decode(encode(x)) is forward(x). Not bit for bit: MKL-DNN's first call in a process can round
  // differently (1 ulp) from later ones, so the first forward is compared with a tolerance.
  EXPECT_TRUE(torch::allclose(model->decode(model->encode(images)), out.reconstruction,
                              /*rtol=*/0, /*atol=*/1e-6));
  EXPECT_TRUE(
      torch::equal(model->decode(model->encode(images)), model->forward(images).reconstruction));
}

TEST(Model, ParameterNamesAndShapesAreTheOriginalModels) {
  // The original PyTorch module, parameter by parameter: checkpoints load there by these names.
  const std::map<std::string, std::vector<int64_t>> expected = {
      {"enc1.weight", {16, 1, 3, 3}},  {"enc1.bias", {16}},
      {"enc2.weight", {32, 16, 3, 3}}, {"enc2.bias", {32}},
      {"enc3.weight", {64, 32, 7, 7}}, {"enc3.bias", {64}},
      {"dec1.weight", {64, 32, 7, 7}}, {"dec1.bias", {32}},
      {"dec2.weight", {32, 16, 3, 3}}, {"dec2.bias", {16}},
      {"dec3.weight", {16, 1, 3, 3}},  {"dec3.bias", {1}},
  };
  SparseAutoencoder model;
  std::map<std::string, std::vector<int64_t>> found;
  for (const auto& p : model->named_parameters()) found[p.key()] = p.value().sizes().vec();
  EXPECT_EQ(found, expected);
}

TEST(Model, TheCodeIsTheActivationOfItsKind) {
  torch::manual_seed(0);
  SparseAutoencoder model;
  EXPECT_EQ(model->code_kind().kind(), CodeKind::kSigmoid);
  EXPECT_EQ(SparseAutoencoder(CodeSpec{CodeKind::kTopK, 8})->code_kind().kind(), CodeKind::kTopK);
  torch::NoGradGuard no_grad;
  const auto images = torch::rand({3, 1, 28, 28});
  const auto z = model->enc3(torch::relu(model->enc2(torch::relu(model->enc1(images)))));
  // Not bit for bit: see above.
  EXPECT_TRUE(torch::allclose(model->encode(images), torch::sigmoid(z).flatten(1), /*rtol=*/0,
                              /*atol=*/1e-6));
}

// Each kind's own tensors, under the names model.pt gives them to Python (README): jumprelu's
// parameter threshold (64), batchtopk's buffer threshold (1); no other kind adds any.
TEST(Model, EachKindOfCodeAddsOnlyItsOwnTensors) {
  for (const Code* code : code_kinds()) {
    SparseAutoencoder model(CodeSpec{code->kind(), 8, 0.05});
    const auto parameters = model->named_parameters();
    const auto buffers = model->named_buffers();
    const bool jump = code->kind() == CodeKind::kJumpRelu;
    const bool batch = code->kind() == CodeKind::kBatchTopK;
    EXPECT_EQ(parameters.size(), jump ? 13u : 12u) << code->name();
    EXPECT_EQ(parameters.contains("threshold"), jump) << code->name();
    EXPECT_EQ(buffers.size(), batch ? 1u : 0u) << code->name();
    EXPECT_EQ(buffers.contains("threshold"), batch) << code->name();
  }
}

TEST(Model, RejectsWrongInputShape) {
  SparseAutoencoder model;
  EXPECT_THROW(model->forward(torch::rand({2, 1, 32, 32})), c10::Error);
  EXPECT_THROW(model->decode(torch::rand({2, 10})), c10::Error);
}

}  // namespace
}  // namespace sae
