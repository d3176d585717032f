#include "sae/checkpoint.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "sae/atomic_file.hpp"
#include "sae/interrupt.hpp"
#include "sae/loss.hpp"

#include <filesystem>
#include <fstream>

namespace sae {
namespace {

namespace fs = std::filesystem;
constexpr int kFormatVersion = 1;

void require_file(const std::string& path, const char* what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw CheckpointError(fmt::format(
        "{}: no such {}; pass the model.pt of a finished run, e.g. runs/<date>/model.pt", path,
        what));
  }
  if (!fs::is_regular_file(path, ec)) {
    throw CheckpointError(fmt::format("{}: expected a {} file, found a directory", path, what));
  }
}

/// The first line of a LibTorch error: the rest is a C++ backtrace no user needs.
std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

}  // namespace

void save_checkpoint(const std::string& run_dir, SparseAutoencoder& model,
                     torch::optim::Adam& optimizer, const CheckpointInfo& info) {
  const fs::path dir(run_dir);
  const BlockStopSignals block;  // the three files are one checkpoint: no Ctrl-C between them
  write_atomically((dir / "model.pt").string(),
                   [&](const std::string& tmp) { torch::save(model, tmp); });
  write_atomically((dir / "optimizer.pt").string(),
                   [&](const std::string& tmp) { torch::save(optimizer, tmp); });
  const auto& p = info.partial;
  const nlohmann::json json = {
      {"format", kFormatVersion},
      {"architecture", "sae-conv-64"},
      {"epoch", info.epoch},
      {"partial_epoch",
       {{"batches", p.batches},
        {"images", p.images},
        {"loss_sum", p.loss_sum},
        {"mse_sum", p.mse_sum},
        {"kl_sum", p.kl_sum},
        {"seconds", p.seconds}}},
      {"beta", info.beta},
      {"rho", info.rho},
      {"penalty", info.penalty},
      {"lr", info.lr},
      {"batch_size", info.batch_size},
      {"seed", info.seed},
      {"data_dir", info.data_dir},
  };
  write_text_atomically((dir / "checkpoint.json").string(), json.dump(2) + '\n');
}

SparseAutoencoder load_model(const std::string& model_path, const torch::Device& device) {
  require_file(model_path, "checkpoint");
  SparseAutoencoder model;
  // torch::load silently reshapes parameters to whatever the file holds, so remember the seed's
  // shapes and compare afterwards: a checkpoint of another architecture must fail here.
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const auto& p : model->named_parameters()) {
    expected.emplace_back(p.key(), p.value().sizes().vec());
  }
  try {
    // Onto the CPU first: a checkpoint saved from a GPU must load where there is none.
    torch::load(model, model_path, torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    throw CheckpointError(fmt::format("{}: not a readable sae checkpoint: {}", model_path,
                                      first_line(e.what_without_backtrace())));
  }
  const auto loaded = model->named_parameters();
  for (const auto& [name, shape] : expected) {
    const auto found = loaded[name].sizes().vec();
    if (found != shape) {
      throw CheckpointError(fmt::format(
          "{}: parameter {} has shape [{}], expected [{}]: a checkpoint of another architecture",
          model_path, name, fmt::join(found, ", "), fmt::join(shape, ", ")));
    }
  }
  model->to(device);
  return model;
}

void load_optimizer(const std::string& model_path, torch::optim::Adam& optimizer) {
  const std::string path = (fs::path(model_path).parent_path() / "optimizer.pt").string();
  require_file(path, "optimizer state");
  try {
    torch::load(optimizer, path);
  } catch (const c10::Error& e) {
    throw CheckpointError(fmt::format("{}: not a readable optimizer state: {}", path,
                                      first_line(e.what_without_backtrace())));
  }
}

OpenedCheckpoint open_checkpoint(const std::string& model_path, const std::string& data_dir,
                                 const torch::Device& device) {
  CheckpointInfo info = load_checkpoint_info(model_path);
  const std::string folder = data_dir.empty() ? info.data_dir : data_dir;
  return {load_model(model_path, device), std::move(info), folder};
}

CheckpointInfo load_checkpoint_info(const std::string& model_path) {
  const std::string path = (fs::path(model_path).parent_path() / "checkpoint.json").string();
  require_file(path, "checkpoint.json");
  try {
    const auto json = nlohmann::json::parse(std::ifstream(path));
    CheckpointInfo info;
    info.epoch = json.at("epoch").get<int64_t>();
    const auto& partial = json.at("partial_epoch");
    info.partial.batches = partial.at("batches").get<int64_t>();
    info.partial.images = partial.at("images").get<int64_t>();
    info.partial.loss_sum = partial.at("loss_sum").get<double>();
    info.partial.mse_sum = partial.at("mse_sum").get<double>();
    info.partial.kl_sum = partial.at("kl_sum").get<double>();
    info.partial.seconds = partial.at("seconds").get<double>();
    info.beta = json.at("beta").get<double>();
    info.rho = json.at("rho").get<double>();
    info.penalty = penalty_name(parse_penalty(json.at("penalty").get<std::string>()));
    info.lr = json.at("lr").get<double>();
    info.batch_size = json.at("batch_size").get<int64_t>();
    info.seed = json.at("seed").get<uint64_t>();
    info.data_dir = json.at("data_dir").get<std::string>();
    return info;
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(fmt::format("{}: {}", path, e.what()));
  } catch (const std::invalid_argument& e) {
    throw CheckpointError(fmt::format("{}: {}", path, e.what()));
  }
}

}  // namespace sae
