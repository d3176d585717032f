#pragma once
// Environment variables, read one way: the integers and text that launchers (torchrun, Slurm)
// and users export.

#include <cstdint>
#include <optional>
#include <string>

namespace sae {

/// The variable's value, or nullopt when it is unset or empty.
std::optional<std::string> env_text(const char* name);

/// The variable as an integer in [min, max]; nullopt when it is unset or empty. Any other value
/// throws UsageError naming the variable, the value and the range ("MASTER_PORT=x is not an
/// integer in [1, 65535]").
std::optional<int64_t> env_integer(const char* name, int64_t min, int64_t max);

/// Like env_integer, but a value that is not an integer in [min, max] reads as unset, without an
/// error: for variables that other programs own and may define more broadly than sae reads them
/// (OMP_NUM_THREADS may be a list, "4,2"), where sae falls back to its own default.
std::optional<int64_t> env_integer_if_valid(const char* name, int64_t min, int64_t max);

}  // namespace sae
