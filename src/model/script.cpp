// The TorchScript that model.pt carries: model.cpp's forward and each kind's inference
// activation (code/*.cpp) written a second time, as source that torch::jit::Module::define
// compiles here and PyTorch compiles again on torch.jit.load. It lives beside model.cpp because
// it must change with it; test_checkpoint holds the two forwards equal for every kind of code.

#include "sae/model/script.hpp"

#include <fmt/format.h>

#include "sae/data/image_size.hpp"

#include <algorithm>
#include <iterator>
#include <memory>
#include <string>

namespace sae {
namespace {

/// One layer of model.cpp, by the name it registers: the class name it takes in the archive and
/// its forward, with the options model.cpp builds it with.
struct LayerScript {
  const char* name;
  const char* class_name;
  const char* forward;
};

// conv2d(x, weight, bias, stride, padding, dilation, groups);
// conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation).
constexpr LayerScript kLayers[] = {
    {"enc1", "Conv2d", "torch.conv2d(x, self.weight, self.bias, [2, 2], [1, 1], [1, 1], 1)"},
    {"enc2", "Conv2d", "torch.conv2d(x, self.weight, self.bias, [2, 2], [1, 1], [1, 1], 1)"},
    {"enc3", "Conv2d", "torch.conv2d(x, self.weight, self.bias, [1, 1], [0, 0], [1, 1], 1)"},
    {"dec1", "ConvTranspose2d",
     "torch.conv_transpose2d(x, self.weight, self.bias, [1, 1], [0, 0], [0, 0], 1, [1, 1])"},
    {"dec2", "ConvTranspose2d",
     "torch.conv_transpose2d(x, self.weight, self.bias, [2, 2], [1, 1], [1, 1], 1, [1, 1])"},
    {"dec3", "ConvTranspose2d",
     "torch.conv_transpose2d(x, self.weight, self.bias, [2, 2], [1, 1], [1, 1], 1, [1, 1])"},
};

constexpr const char* kLayerScript = R"(
def forward(self, x: Tensor) -> Tensor:
    return {}
)";

// model.cpp's pre_activation, encode, decode and forward; forward returns (reconstruction, code)
// as the reference module of scripts/sae_reference.py does. The layers are called through their
// forward methods: Module::define compiles `self` as a plain object, which has no __call__. The
// checks are asserts: without Python, TorchScript's compiler knows no exception but
// AssertionError.
constexpr const char* kNetworkScript = R"(
def pre_activation(self, images: Tensor) -> Tensor:
    assert images.dim() == 4 and images.size(1) == 1 and images.size(2) == {side} and images.size(3) == {side}, "SparseAutoencoder expects images of shape (B, 1, {side}, {side}), got " + str(images.shape)
    x = torch.relu(self.enc1.forward(images))  # (B, 16, 14, 14)
    x = torch.relu(self.enc2.forward(x))  # (B, 32, 7, 7)
    return torch.flatten(self.enc3.forward(x), 1)  # (B, {units}, 1, 1) -> (B, {units})

def encode(self, images: Tensor) -> Tensor:
    return self.activate(self.pre_activation(images))

def decode(self, code: Tensor) -> Tensor:
    assert code.dim() == 2 and code.size(1) == {units}, "SparseAutoencoder.decode expects codes of shape (B, {units}), got " + str(code.shape)
    x = torch.relu(self.dec1.forward(code.view([code.size(0), {units}, 1, 1])))  # (B, 32, 7, 7)
    x = torch.relu(self.dec2.forward(x))  # (B, 16, 14, 14)
    return torch.sigmoid(self.dec3.forward(x))  # (B, 1, {side}, {side})

def forward(self, images: Tensor) -> Tuple[Tensor, Tensor]:
    code = self.encode(images)
    return self.decode(code), code

def activate(self, z: Tensor) -> Tensor:
)";

/// How a kind of code makes the code in eval mode, as the body of activate(self, z).
struct ActivationScript {
  const char* body = nullptr;
  bool reads_k = false;  ///< the module then carries the attribute k
};

ActivationScript activation_script(CodeKind kind) {
  switch (kind) {
    case CodeKind::kSigmoid:
      return {"    return torch.sigmoid(z)\n"};
    case CodeKind::kRelu:
      return {"    return torch.relu(z)\n"};
    case CodeKind::kTopK:  // topk_mask: the stable sort gives ties to the lower unit index
      return {
          "    order = torch.sort(z, dim=1, descending=True, stable=True)[1]\n"
          "    kept = torch.zeros_like(z).scatter_(1, order.narrow(1, 0, self.k), 1.0)\n"
          "    return torch.relu(z) * kept\n",
          true};
    case CodeKind::kBatchTopK:  // the batch's selection is training's; inference, one threshold
      return {"    return torch.relu(z) * z.gt(self.threshold)\n", true};
    case CodeKind::kJumpRelu:  // the straight-through estimator is training's alone
      return {"    return torch.relu(z) * z.gt(self.threshold).to(z.dtype)\n"};
  }
  return {};
}

/// `tensor` on the CPU, detached, with its requires_grad: an archive that loads without a GPU.
torch::Tensor cpu_copy(const torch::Tensor& tensor) {
  auto copy = tensor.detach().to(torch::kCPU);
  copy.set_requires_grad(tensor.requires_grad());
  return copy;
}

/// Registers `from`'s own parameters and buffers (not its children's) on `to`, by name.
void add_tensors(torch::jit::Module& to, const torch::nn::Module& from) {
  for (const auto& parameter : from.named_parameters(/*recurse=*/false)) {
    to.register_parameter(parameter.key(), cpu_copy(parameter.value()), /*is_buffer=*/false);
  }
  for (const auto& buffer : from.named_buffers(/*recurse=*/false)) {
    to.register_buffer(buffer.key(), cpu_copy(buffer.value()));
  }
}

/// A module of class `class_name` in `unit`, in eval mode as PyTorch reads the flag; C++'s
/// Module::train() asserts that the attribute exists.
torch::jit::Module new_module(const std::string& class_name,
                              const std::shared_ptr<torch::jit::CompilationUnit>& unit) {
  // A class name taken in the unit gets a counter: with a unit of its own for each archive, the
  // names, and so the bytes, are the same every time.
  torch::jit::Module module(c10::QualifiedName("__torch__.sae." + class_name), unit,
                            /*shouldMangle=*/true);
  module.register_attribute("training", c10::BoolType::get(), false);
  return module;
}

}  // namespace

torch::jit::Module script_module(const SparseAutoencoderImpl& model) {
  const CodeSpec& spec = model.code_spec();
  const ActivationScript activation = activation_script(spec.kind);
  TORCH_CHECK(activation.body != nullptr, "script_module: no TorchScript activation for code ",
              code_name(spec.kind));
  const auto unit = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module network = new_module("SparseAutoencoder", unit);
  for (const auto& child : model.named_children()) {
    const auto* layer =
        std::find_if(std::begin(kLayers), std::end(kLayers),
                     [&](const LayerScript& script) { return child.key() == script.name; });
    TORCH_CHECK(layer != std::end(kLayers), "script_module: no TorchScript for layer ", child.key(),
                "; add it to kLayers in src/model/script.cpp");
    torch::jit::Module scripted = new_module(layer->class_name, unit);
    add_tensors(scripted, *child.value());
    scripted.define(fmt::format(kLayerScript, layer->forward));
    network.register_module(child.key(), scripted);
  }
  add_tensors(network, model);  // jumprelu's parameter threshold, batchtopk's buffer threshold
  // What the kind is and reads, for whoever loads the archive: m.code_kind, m.k.
  network.register_attribute("code_kind", c10::StringType::get(), code_name(spec.kind));
  if (activation.reads_k) network.register_attribute("k", c10::IntType::get(), spec.k);
  // The level above which a unit counts as active (L0, dead units), as `sae eval` counts.
  network.register_attribute("active_threshold", c10::FloatType::get(),
                             model.code_kind().active_threshold());
  network.define(
      fmt::format(kNetworkScript, fmt::arg("side", kImageSide), fmt::arg("units", kCodeSize)) +
      activation.body);
  return network;
}

}  // namespace sae
