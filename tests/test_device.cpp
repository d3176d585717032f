#include <gtest/gtest.h>

#include "sae/train/device.hpp"

#include <algorithm>

namespace sae {
namespace {

// /proc/stat's per-CPU lines: user nice system idle iowait irq softirq steal ...
constexpr const char* kBefore =
    "cpu  300 0 100 900 0 0 0 0 0 0\n"
    "cpu0 100 0 50 400 0 0 0 0 0 0\n"
    "cpu1 200 0 50 500 0 0 0 0 0 0\n"
    "intr 12345\n";
// cpu0 spent 90 of 100 jiffies working (another process); cpu1 was 95% idle (80 + 15 iowait).
constexpr const char* kAfter =
    "cpu  400 0 100 1000 15 0 0 0 0 0\n"
    "cpu0 190 0 50 410 0 0 0 0 0 0\n"
    "cpu1 205 0 50 580 15 0 0 0 0 0\n"
    "intr 12399\n";

TEST(Device, ABusyCoreIsNotCountedAsIdle) {
  EXPECT_EQ(idle_cores_between(kBefore, kAfter, {0, 1}), 1);
  EXPECT_EQ(idle_cores_between(kBefore, kAfter, {1}), 1);
  EXPECT_EQ(idle_cores_between(kBefore, kAfter, {0}), 0);
  EXPECT_EQ(idle_cores_between(kBefore, kAfter, {7}), 0);      // not in the snapshots
  EXPECT_EQ(idle_cores_between(kBefore, kBefore, {0, 1}), 0);  // no time passed
}

TEST(Device, DefaultThreadsStayWithinTheAvailableCores) {
  const int threads = default_threads();
  EXPECT_GE(threads, 1);
  EXPECT_LE(threads, available_cores());
}

TEST(Device, ProcessesShareTheCoresWithOneAtLeastEach) {
  const int cores = available_cores();
  EXPECT_EQ(cores_per_process(1), cores);
  EXPECT_EQ(cores_per_process(2), std::max(1, cores / 2));
  EXPECT_EQ(cores_per_process(4 * cores), 1);
  EXPECT_ANY_THROW(cores_per_process(0));
}

TEST(Device, UnknownDevicesAreUsageErrors) {
  EXPECT_EQ(resolve_device("cpu"), torch::Device(torch::kCPU));
  EXPECT_ANY_THROW(resolve_device("tpu"));
  EXPECT_ANY_THROW(resolve_device("cuda:x"));
}

}  // namespace
}  // namespace sae
