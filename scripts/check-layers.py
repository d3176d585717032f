#!/usr/bin/env python3
"""Checks that the code's include arrows run downward only.

The layers, lowest first, are the folders of include/sae/ and src/ (README: How the code is laid
out). A file may include headers of its own layer or a lower one; no two files may include each
other. Prints each wrong arrow as FILE: includes HEADER (layer above), and exits 1 if there is one.
  scripts/check-layers.py [ROOT]
"""
import pathlib
import re
import sys

LAYERS = ["base", "data", "plot", "model", "train", "store", "analysis", "report", "run", "cli"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"sae/([a-z_]+)/([a-z_/]+)\.hpp"', re.MULTILINE)


def layer_of(path, root):
    parts = path.relative_to(root).parts
    top = parts[2] if parts[0] == "include" else parts[1]  # include/sae/<layer>/, src/<layer>/
    if top not in LAYERS:
        raise SystemExit(f"{path}: in no layer folder; put it in one of {', '.join(LAYERS)}")
    return top


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    files = sorted(p for p in (root / "include/sae").rglob("*.hpp")) + sorted(
        p for p in (root / "src").rglob("*.[ch]pp"))
    problems = []
    includes = {}  # header key "layer/name" -> the keys it includes
    for path in files:
        layer = layer_of(path, root)
        key = None
        if path.parts[len(root.parts)] == "include":
            key = str(path.relative_to(root / "include/sae").with_suffix(""))
        text = path.read_text()
        found = INCLUDE.findall(text)
        for target_layer, name in found:
            if target_layer not in LAYERS:
                problems.append(f"{path.relative_to(root)}: includes sae/{target_layer}/{name}.hpp, "
                                "in no layer")
            elif LAYERS.index(target_layer) > LAYERS.index(layer):
                problems.append(f"{path.relative_to(root)}: includes sae/{target_layer}/{name}.hpp "
                                f"({target_layer} is above {layer})")
        if key:
            includes[key] = {f"{l}/{n}" for l, n in found}
    # Two headers that include each other form a cycle.
    seen_cycles = set()
    for a, targets in includes.items():
        for b in targets:
            if a != b and a in includes.get(b, set()) and (b, a) not in seen_cycles:
                seen_cycles.add((a, b))
                problems.append(f"include/sae/{a}.hpp and include/sae/{b}.hpp include each other")
    # Source files that include each other's headers both ways: a.cpp includes b.hpp and
    # b.cpp includes a.hpp.
    sources = {str(p.relative_to(root / "src").with_suffix("")): {f"{l}/{n}" for l, n in
               INCLUDE.findall(p.read_text())} for p in files if p.suffix == ".cpp"}
    for a, targets in sources.items():
        for b in targets:
            if a != b and b in sources and a in sources[b] and (b, a) not in seen_cycles:
                seen_cycles.add((a, b))
                problems.append(f"src/{a}.cpp and src/{b}.cpp include each other's header")
    for problem in problems:
        print(problem)
    print(f"check-layers: {len(files)} files, {len(problems)} wrong arrows")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
