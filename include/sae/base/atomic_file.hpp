#pragma once
// Every file sae writes lands whole or not at all: a temporary file beside it, renamed into place.
// A symlink where a file or folder is written is replaced, never followed.

#include <string>
#include <string_view>

namespace sae {

/// Writes `bytes` to `path` atomically and durably: into a temporary file beside it
/// (NAME.tmpXXXXXX.EXT), every write checked, fsync'd, then renamed over `path`. On failure the
/// temporary file is removed, `path` keeps its old content, and std::runtime_error says
/// "cannot write PATH: REASON" with the path the caller gave, never the temporary one.
void write_file_atomically(const std::string& path, std::string_view bytes);

/// Makes `path` (its parent must exist) a real folder: a symlink there is replaced, a file refused.
void make_real_folder(const std::string& path);

/// The whole content of `path`; throws std::runtime_error "cannot read PATH: REASON".
std::string read_file(const std::string& path);

/// True for the names write_file_atomically gives its temporary files ("model.tmpAb12Cd.pt"), so
/// that the leftovers of a write that a crash cut short can be swept away.
bool is_temporary_file_name(const std::string& filename);

}  // namespace sae
