// End to end through the real `sae` binary on a synthetic IDX set.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sae/data/image.hpp"
#include "sae/model/model.hpp"
#include "sae/store/checkpoint.hpp"
#include "sae/store/run_folder.hpp"
#include "sae/train/train.hpp"
#include "test_util.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

namespace sae {
namespace {

using test::expect_clean_failure;
using test::read_text;
using test::run_sae;
using test::RunResult;

// A linear probe on a code that marks the synthetic bar's rows must reach this test accuracy
// (see TheProbeReadsTheLabelOffACodeThatCarriesIt); chance is 0.1.
constexpr double kProbeBound = 0.4;
// row_marking_model's unit is sigmoid(4 * (row sum - 1)): above 0.99 on the bar's rows (3 pixels
// of 0.78 to 1), 0.018 elsewhere.
constexpr double kRowGain = 4.0;

/// Checks that the PNG at `path` decodes (CRCs included) to a picture of `width` x `height` with
/// `channels` channels at 8 bits, and that it is not one colour all over.
void expect_picture(const std::string& path, int width, int height, int channels) {
  const test::DecodedPng png = test::decode_png(path);
  EXPECT_EQ(png.width, width) << path;
  EXPECT_EQ(png.height, height) << path;
  EXPECT_EQ(png.channels, channels) << path;
  EXPECT_FALSE(png.sixteen_bit) << path;
  EXPECT_FALSE(png.blank()) << path << " draws nothing";
}

/// A model whose code marks the rows of the bar that test::synthetic_pixels draws, its decoder as
/// initialised: unit u is on where pixel row u % 28 is bright across the bar, off elsewhere.
SparseAutoencoder row_marking_model() {
  torch::manual_seed(0);
  SparseAutoencoder model;
  torch::NoGradGuard no_grad;
  for (auto* conv : {model->enc1.get(), model->enc2.get(), model->enc3.get()}) {
    conv->weight.zero_();
    conv->bias.zero_();
  }
  // enc1's channel a keeps pixel row 2i + a, column 2j: (B, 16, 14, 14).
  for (int a = 0; a < 2; ++a) model->enc1->weight[a][0][1 + a][1] = 1.0;
  // enc2's channel 2b + a keeps enc1's channel a at row 2i' + b: pixel row 4i' + 2b + a, column
  // 4j' (B, 32, 7, 7). Every pixel row is kept, in channel row % 4 at row row / 4.
  for (int a = 0; a < 2; ++a) {
    for (int b = 0; b < 2; ++b) model->enc2->weight[2 * b + a][a][1 + b][1] = 1.0;
  }
  // Unit u sums pixel row u % 28 over the 7 kept columns 0, 4, ..., 24, of which exactly 3 fall
  // in the bar, 12 pixels wide: (B, 64).
  for (int u = 0; u < kCodeSize; ++u) {
    const int row = u % 28;
    model->enc3->weight[u][row % 4][row / 4].fill_(kRowGain);
    model->enc3->bias[u] = -kRowGain;
  }
  return model;
}

/// One short training run, trained once for all these tests (see test::shared_run).
class Cli : public ::testing::Test {
 protected:
  static std::string data() { return test::shared_data(250, 60); }
  static std::string run() {
    return test::shared_run(
        {"--epochs", "1", "--data-dir", data(), "--threads", "1", "--batch-size", "50"});
  }
};

TEST_F(Cli, TrainLeavesACompleteRunFolder) {
  for (const char* name : {"config.toml", "metrics.csv", "model.pt", "checkpoint.json", "loss.png",
                           "reconstructions.png", "summary.json"}) {
    EXPECT_TRUE(std::filesystem::is_regular_file(run() + "/" + name)) << name;
  }
  // The manifest names the step-tagged files of its one commit; model.pt is that model.
  const auto manifest = nlohmann::json::parse(read_text(run() + "/checkpoint.json"));
  EXPECT_EQ(manifest.at("format").get<int>(), 2);
  const auto model_file = manifest.at("files").at("model").at("name").get<std::string>();
  EXPECT_EQ(model_file, "model-00000005.pt");  // 250 images in batches of 50
  EXPECT_EQ(read_text(run() + "/" + model_file), read_text(run() + "/model.pt"));
  EXPECT_TRUE(std::filesystem::is_regular_file(
      run() + "/" + manifest.at("files").at("optimizer").at("name").get<std::string>()));
  std::istringstream csv(read_text(run() + "/metrics.csv"));
  std::string header, row, extra;
  std::getline(csv, header);
  std::getline(csv, row);
  EXPECT_EQ(
      header,
      "epoch,train_loss,train_mse,train_kl,test_loss,test_mse,test_kl,test_explained_variance,"
      "test_mean_rho_hat,test_dead_units,test_far_units,test_l0,test_thresholded_mse,test_fvu,"
      "test_thresholded_fvu,train_dead_units,seconds,images_per_s");
  EXPECT_EQ(row.rfind("1,", 0), 0u) << row;
  EXPECT_FALSE(std::getline(csv, extra) && !extra.empty());
  // No temporary file is left behind.
  for (const auto& entry : std::filesystem::directory_iterator(run())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
}

TEST_F(Cli, EvalJsonIsOneObjectWithFiniteNumbers) {
  const RunResult r = run_sae({"eval", "--checkpoint", run() + "/model.pt", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto json = nlohmann::json::parse(r.out);
  for (const char* key : {"mse", "kl", "loss", "psnr"}) {
    ASSERT_TRUE(json.at(key).is_number()) << key;
    EXPECT_TRUE(std::isfinite(json.at(key).get<double>())) << key;
  }
  EXPECT_EQ(json.at("images").get<int>(), 60);
  EXPECT_DOUBLE_EQ(json.at("beta").get<double>(), 0.005);  // the checkpoint's
  EXPECT_NEAR(json.at("loss").get<double>(),
              json.at("mse").get<double>() + 0.005 * json.at("kl").get<double>(), 1e-12);
  // The last epoch's test metrics in metrics.csv follow the same definitions.
  const std::string csv = read_text(run() + "/metrics.csv");
  const auto row = csv.substr(csv.find('\n') + 1);
  std::vector<double> fields;
  std::stringstream ss(row);
  for (std::string f; std::getline(ss, f, ',');) fields.push_back(std::stod(f));
  EXPECT_NEAR(fields[5], json.at("mse").get<double>(), 1e-6);  // test_mse
}

TEST_F(Cli, ReconstructWritesRealPngs) {
  test::TempDir out;
  const RunResult r = run_sae({"reconstruct", "--checkpoint", run() + "/model.pt", "--out",
                               out.path().string(), "--count", "5", "--pairs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string grid = out / "reconstructions.png";
  EXPECT_EQ(read_text(grid).substr(0, 8), "\x89PNG\r\n\x1a\n");
  const GrayImage image = test::read_gray_png(grid);
  // 5 columns and 2 rows of 28 px tiles at 3x, with 2 px padding around each.
  EXPECT_EQ(image.width, 5 * 84 + 6 * 2);
  EXPECT_EQ(image.height, 2 * 84 + 3 * 2);
  expect_picture(grid, image.width, image.height, 1);
  for (int i = 0; i < 5; ++i) {
    // Pair i is test image i above its reconstruction: the grid's column i, whose original (the
    // top tile and the padding around it) is the same to the pixel. The reconstruction is not
    // compared: computed in a batch of 1 rather than 5, its float sums may round otherwise.
    const std::string pair = out / ("pair_000" + std::to_string(i) + ".png");
    ASSERT_TRUE(std::filesystem::exists(pair));
    expect_picture(pair, 84 + 2 * 2, 2 * 84 + 3 * 2, 1);
    const GrayImage alone = test::read_gray_png(pair);
    ASSERT_EQ(alone.width, 84 + 2 * 2);
    ASSERT_EQ(alone.height, image.height);
    const int left = i * (84 + 2);  // of column i in the grid
    int differing = 0;
    for (int y = 0; y < 2 + 84 + 2; ++y) {
      for (int x = 0; x < alone.width; ++x) {
        differing += alone.pixels[y * alone.width + x] != image.pixels[y * image.width + left + x];
      }
    }
    EXPECT_EQ(differing, 0) << pair << "'s original is not the grid's column " << i;
  }
}

TEST_F(Cli, TrainingEndsWithTheInspectionPicturesAndASummary) {
  const GrayImage atoms = test::read_gray_png(run() + "/atoms.png");
  EXPECT_EQ(atoms.width, 974);  // 8x8 atoms at 4x, with their captions, title and subtitle
  EXPECT_EQ(atoms.height, 1164);
  const GrayImage top = test::read_gray_png(run() + "/top.png");
  EXPECT_EQ(top.width, 1698);  // 4 blocks of 6 images at 2x, with unit numbers and activations
  EXPECT_EQ(top.height, 1364);
  for (const char* plot : {"units.png", "activations.png", "loss.png"}) {
    EXPECT_EQ(read_text(run() + "/" + plot).substr(0, 8), "\x89PNG\r\n\x1a\n") << plot;
  }
  // PLplot's RGB pages: 800 x 600, the activations' two histogram panels 700 wide each.
  expect_picture(run() + "/units.png", 800, 600, 3);
  expect_picture(run() + "/activations.png", 2 * 700, 600, 3);
  expect_picture(run() + "/loss.png", 3 * 600, 480, 3);  // loss, mse, the penalty
  const auto summary = nlohmann::json::parse(read_text(run() + "/summary.json"));
  // Five Adam steps leave the code almost constant (every unit near 0.4 on every image), so this
  // run's probe sits at chance; the bound a probe must reach on a code that carries the label is
  // TheProbeReadsTheLabelOffACodeThatCarriesIt's.
  EXPECT_GE(summary.at("probe_accuracy").get<double>(), 0.0);
  EXPECT_LE(summary.at("probe_accuracy").get<double>(), 1.0);
  EXPECT_EQ(summary.at("test").at("rho_hat").size(), 64u);
}

TEST_F(Cli, InspectWritesThePicturesTrainingEndsWith) {
  test::TempDir out;
  const RunResult r =
      run_sae({"inspect", "--checkpoint", run() + "/model.pt", "--out", out / "pictures", "--quiet",
               "--threads", "1"});  // as the run was trained: float sums depend on the thread count
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The same code draws them at the end of training: the same model gives the same pictures.
  for (const char* name :
       {"reconstructions.png", "units.png", "activations.png", "atoms.png", "top.png"}) {
    EXPECT_EQ(read_text(out / ("pictures/" + std::string(name))), read_text(run() + "/" + name))
        << name;
  }
}

TEST_F(Cli, EvalTakesARunFolderOrItsModel) {
  // One thread each: the default takes the idle cores, and float sums depend on how many.
  const RunResult folder =
      run_sae({"eval", "--checkpoint", run(), "--json", "--no-probe", "--threads", "1"});
  const RunResult file = run_sae(
      {"eval", "--checkpoint", run() + "/model.pt", "--json", "--no-probe", "--threads", "1"});
  ASSERT_EQ(folder.exit_code, 0) << folder.err;
  ASSERT_EQ(file.exit_code, 0) << file.err;
  EXPECT_EQ(nlohmann::json::parse(folder.out).at("mse"), nlohmann::json::parse(file.out).at("mse"));
}

TEST_F(Cli, EvalReportsTheSparsityDiagnostics) {
  const RunResult r = run_sae({"eval", "--checkpoint", run() + "/model.pt", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto json = nlohmann::json::parse(r.out);
  ASSERT_EQ(json.at("rho_hat").size(), 64u);
  ASSERT_EQ(json.at("unit_kl").size(), 64u);
  double mean = 0, kl = 0;
  for (int j = 0; j < 64; ++j) {
    mean += json.at("rho_hat")[j].get<double>() / 64;
    kl += json.at("unit_kl")[j].get<double>();
  }
  EXPECT_NEAR(json.at("mean_rho_hat").get<double>(), mean, 1e-9);
  EXPECT_NEAR(json.at("kl").get<double>(), kl, 1e-6);
  const int dead = json.at("dead_units").get<int>();
  EXPECT_TRUE(dead >= 0 && dead <= 64);
  EXPECT_LE(json.at("mean_l0").get<double>(), 64.0 - dead);
  EXPECT_LE(json.at("explained_variance").get<double>(), 1.0);
  const double probe = json.at("probe_accuracy").get<double>();
  EXPECT_TRUE(probe >= 0.0 && probe <= 1.0);
  const RunResult no_probe =
      run_sae({"eval", "--checkpoint", run() + "/model.pt", "--json", "--no-probe"});
  EXPECT_FALSE(nlohmann::json::parse(no_probe.out).contains("probe_accuracy"));
}

// The bound: the bar's top row is 4 + 2 * label + (0, 1 or 2), so a code that marks the bar's
// rows names the label but for the top row that two neighbouring labels share; the best a
// classifier can do is about 2/3. The probe's 20 Adam steps reached 0.57 to 0.80 on these 60
// test images in a float simulation over 200 seeds of its initialisation and order; chance is
// 0.1. A probe that learns nothing, or is scored on other codes or labels, stays near 0.1.
TEST_F(Cli, TheProbeReadsTheLabelOffACodeThatCarriesIt) {
  test::TempDir tmp;
  const std::string copy = tmp / "run";
  std::filesystem::copy(run(), copy, std::filesystem::copy_options::recursive);
  const Checkpoint trained = read_checkpoint(copy);
  SparseAutoencoder model = row_marking_model();
  auto optimizer = make_optimizer(model, trained.config.lr, trained.config.weight_decay);
  // Committed anew at the same step: without the old manifest, its step files are rewritten.
  std::filesystem::remove(copy + "/checkpoint.json");
  save_checkpoint(copy, model, optimizer, trained.config, trained.cursor);
  // A finished run without its summary gets just its final stage: pictures, probe, summary.
  std::filesystem::remove(copy + "/summary.json");
  const RunResult finish = run_sae({"train", "--resume", copy, "--quiet"});
  ASSERT_EQ(finish.exit_code, 0) << finish.err;
  const auto summary = nlohmann::json::parse(read_text(copy + "/summary.json"));
  EXPECT_GE(summary.at("probe_accuracy").get<double>(), kProbeBound);
  EXPECT_LE(summary.at("probe_accuracy").get<double>(), 1.0);

  const RunResult eval = run_sae({"eval", "--checkpoint", copy, "--json", "--threads", "1"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const auto json = nlohmann::json::parse(eval.out);
  EXPECT_GE(json.at("probe_accuracy").get<double>(), kProbeBound);
  EXPECT_LE(json.at("probe_accuracy").get<double>(), 1.0);
  EXPECT_GE(json.at("probe_train_accuracy").get<double>(), kProbeBound);
}

TEST_F(Cli, SweepTrainsTheGridOnceAndSummarizesIt) {
  // The grid the sweep tests share, trained once (test::shared_sweep); a copy is run again below.
  const std::string sweep = test::shared_sweep(test::small_grid_args());
  std::istringstream csv(read_text(sweep + "/sweep.csv"));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line,
            "code,beta,rho,k,l0_coef,test_mse,mean_rho_hat,dead_units,mean_l0,thresholded_mse,fvu,"
            "thresholded_fvu,probe_accuracy,train_dead_units,seconds");
  std::vector<std::string> rows;
  while (std::getline(csv, line)) rows.push_back(line);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].rfind("sigmoid,0,0.05,,,", 0), 0u) << rows[0];
  EXPECT_EQ(rows[3].rfind("sigmoid,0.01,0.2,,,", 0), 0u) << rows[3];
  EXPECT_TRUE(std::filesystem::exists(sweep + "/beta=0.01_rho=0.2/model.pt"));
  EXPECT_EQ(read_text(sweep + "/sweep.png").substr(0, 8), "\x89PNG\r\n\x1a\n");
  expect_picture(sweep + "/sweep.png", 2 * 800, 600, 3);  // the frontier, the probe

  // Run again: every grid point is already finished, so nothing is trained.
  test::TempDir tmp;
  std::filesystem::copy(sweep, tmp / "sweep", std::filesystem::copy_options::recursive);
  const std::string model_before = read_text(tmp / "sweep/beta=0_rho=0.05/model.pt");
  std::vector<std::string> args = {"sweep", "--out", tmp / "sweep"};
  const auto grid = test::small_grid_args();
  args.insert(args.end(), grid.begin(), grid.end());
  const RunResult second = run_sae(args);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  size_t skipped = 0;
  for (size_t at = 0; (at = second.err.find("skipped", at)) != std::string::npos; ++at) ++skipped;
  EXPECT_EQ(skipped, 4u) << second.err;
  EXPECT_EQ(read_text(tmp / "sweep/beta=0_rho=0.05/model.pt"), model_before);
  expect_clean_failure(run_sae({"sweep", "--beta", "0.1", "--rho", "2", "--out", tmp / "bad"}),
                       "rho");
}

TEST_F(Cli, CommandLineBeatsConfigFileBeatsDefaults) {
  test::TempDir tmp;
  std::ofstream(tmp / "c.toml") << "[train]\nepochs = 3\nbeta = 0.1\nlr = 0.01\n";
  const RunResult r =
      run_sae({"train", "--config", tmp / "c.toml", "--beta", "0.2", "--print-config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("epochs = 3"), std::string::npos) << r.out;    // from the file
  EXPECT_NE(r.out.find("beta = 0.2\n"), std::string::npos) << r.out;  // the flag wins
  EXPECT_NE(r.out.find("lr = 0.01\n"), std::string::npos) << r.out;   // from the file
  EXPECT_NE(r.out.find("rho = 0.01\n"), std::string::npos) << r.out;  // the default
  EXPECT_NE(r.out.find("\nbatch-size = 100"), std::string::npos) << r.out;
}

TEST_F(Cli, ShippedConfigsHoldTheOriginalHyperparameters) {
  for (const char* name : {"mnist", "fashion-mnist"}) {
    const RunResult r =
        run_sae({"train", "--config", std::string(SAE_SOURCE_DIR) + "/configs/" + name + ".toml",
                 "--print-config"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* setting : {"epochs = 10\n", "beta = 0.005\n", "rho = 0.01\n", "lr = 0.001\n",
                                "\nbatch-size = 100\n", "test-batch-size = 600\n"}) {
      EXPECT_NE(r.out.find(setting), std::string::npos) << name << ": " << setting;
    }
    EXPECT_NE(r.out.find(std::string("data-dir = \"data/") + name + "\""), std::string::npos);
  }
}

TEST_F(Cli, TheSavedConfigRerunsTheSameSettings) {
  const RunResult r = run_sae({"train", "--config", run() + "/config.toml", "--print-config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\nbatch-size = 50"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epochs = 1\n"), std::string::npos) << r.out;
}

TEST_F(Cli, BadArgumentsFailCleanly) {
  expect_clean_failure(run_sae({"train", "--rho", "1.5", "--data-dir", data()}), "rho");
  expect_clean_failure(run_sae({"train", "--epochs", "0", "--data-dir", data()}), "--epochs");
  expect_clean_failure(run_sae({"train", "--device", "tpu", "--data-dir", data()}), "tpu");
  expect_clean_failure(run_sae({"train", "--epochs", "many"}), "--epochs");
  expect_clean_failure(run_sae({"train", "--data-dir", data() + "/nope"}), "data folder not found");
  expect_clean_failure(run_sae({"train", "--data-dir", data(), "--out", run()}), "--force");
  expect_clean_failure(run_sae({"eval", "--checkpoint", data() + "/model.pt"}), "no such");
  expect_clean_failure(run_sae({"frobnicate"}), "unknown command 'frobnicate'");
  test::TempDir tmp;
  std::ofstream(tmp / "bad.toml") << "[train]\nepochz = 3\n";
  expect_clean_failure(run_sae({"train", "--config", tmp / "bad.toml"}), "epochz");
  std::ofstream(tmp / "syntax.toml") << "[train\nepochs = = 3\n";
  expect_clean_failure(run_sae({"train", "--config", tmp / "syntax.toml"}), "syntax.toml:1:");
  EXPECT_NE(run_sae({}).exit_code, 0);
}

TEST_F(Cli, CorruptCheckpointFailsCleanly) {
  test::TempDir tmp;
  std::filesystem::copy_file(run() + "/checkpoint.json", tmp / "checkpoint.json");
  std::ofstream(tmp / "model.pt") << "not a checkpoint at all";
  expect_clean_failure(run_sae({"eval", "--checkpoint", tmp / "model.pt"}),
                       "not a readable sae model");
}

TEST_F(Cli, AValidationSplitScoresTheEpochsAndTheTestSetOnceAtTheEnd) {
  test::TempDir tmp;
  const std::string run = tmp / "run";
  const RunResult r =
      run_sae({"train", "--data-dir", data(), "--out", run, "--epochs", "2", "--threads", "1",
               "--batch-size", "50", "--val-fraction", "0.2", "--log-every", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("200 train / 50 validation / 60 test images"), std::string::npos) << r.err;
  // The per-epoch columns say what they scored.
  std::istringstream csv(read_text(run + "/metrics.csv"));
  std::string header;
  std::getline(csv, header);
  EXPECT_NE(header.find(",val_mse,"), std::string::npos) << header;
  EXPECT_EQ(header.find("test_"), std::string::npos) << header;
  const std::vector<EpochMetrics> rows = read_metrics_csv(run + "/metrics.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[1].on_validation);
  // summary.json holds the test set's score, which `sae eval` reproduces; the last epoch's
  // validation score differs from it (other images).
  const RunSummary summary = read_summary_json(run + "/summary.json");
  EXPECT_EQ(summary.test.images, 60);
  const RunResult eval = run_sae({"eval", "--checkpoint", run, "--json", "--no-probe"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const auto json = nlohmann::json::parse(eval.out);
  EXPECT_NEAR(json.at("mse").get<double>(), summary.test.mse, 1e-7);
  EXPECT_NE(rows[1].test.mse, summary.test.mse);
  // 200 training images in batches of 50: 4 steps an epoch, a row of steps.csv every 2.
  const std::vector<StepRecord> steps = read_steps_csv(run + "/steps.csv");
  ASSERT_EQ(steps.size(), 4u);
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i].step, 2 * static_cast<int64_t>(i + 1));
    EXPECT_EQ(steps[i].epoch, static_cast<int64_t>(i / 2 + 1));
    EXPECT_NEAR(steps[i].loss, steps[i].mse + steps[i].penalty, 1e-6);
    EXPECT_GE(steps[i].l0, 0.0);
    EXPECT_LE(steps[i].l0, 64.0);
    EXPECT_DOUBLE_EQ(steps[i].lr, 1e-3);
    EXPECT_GT(steps[i].images_per_s, 0.0);
  }
  // The same seed holds out the same images: a second run trains to the same model.
  const RunResult again =
      run_sae({"train", "--data-dir", data(), "--out", tmp / "again", "--epochs", "2", "--threads",
               "1", "--batch-size", "50", "--val-fraction", "0.2", "--quiet"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(read_text(run + "/model.pt"), read_text(tmp / "again/model.pt"));
  expect_clean_failure(
      run_sae({"train", "--data-dir", data(), "--out", tmp / "all", "--val-size", "250"}),
      "leaving none to train on");
  expect_clean_failure(run_sae({"train", "--data-dir", data(), "--out", tmp / "both", "--val-size",
                                "10", "--val-fraction", "0.1"}),
                       "give one");
}

TEST_F(Cli, HelpTextsSayWhatTheFlagsTake) {
  const RunResult top = run_sae({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_EQ(top.out.find("--config"), std::string::npos) << top.out;  // train's, not sae's
  const RunResult eval = run_sae({"eval", "--help"});
  EXPECT_EQ(eval.out.find("{false}"), std::string::npos) << eval.out;
  EXPECT_NE(eval.out.find("in (0, 1)"), std::string::npos) << eval.out;
  expect_clean_failure(run_sae({"eval", "--checkpoint", run(), "--rho", "1"}),
                       "strictly between 0 and 1");
}

TEST_F(Cli, ARelativeDataDirFromAConfigFileSaysWhereItCameFrom) {
  test::TempDir tmp;
  std::ofstream(tmp / "run.toml") << "[train]\ndata-dir = \"no/such/folder\"\n";
  expect_clean_failure(run_sae({"train", "--config", tmp / "run.toml", "--out", tmp / "run"}),
                       "data-dir came from " + tmp / "run.toml" + ":2");
}

TEST_F(Cli, HelpListsEveryTrainOptionWithDefaults) {
  const RunResult r = run_sae({"train", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--epochs", "--beta", "--rho", "--lr", "--batch-size",
                           "--test-batch-size", "--seed", "--data-dir", "--out", "--device",
                           "--threads", "--config", "--log-level", "--quiet", "--print-config"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(r.out.find("0.005"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace sae
