#!/usr/bin/python3
"""A model.pt written by `sae`, of every kind of code, works in plain PyTorch and gives the
numbers `sae eval` gives.

README's "Loading model.pt in Python" promises that the TorchScript archive `sae` writes loads,
by its state_dict(), into the reference model's plain PyTorch module (nn.Conv2d /
nn.ConvTranspose2d named enc1..enc3, dec1..dec3, and the tensor the kind of code keeps:
jumprelu's parameter threshold (64), batchtopk's buffer threshold (1); scripts/sae_reference.py's
SparseAutoencoder, the module README shows), and that this module then reproduces `sae eval`.
This test checks that promise end to end, through the real binary:

  1. it writes a tiny synthetic IDX data set (300 train / 97 test images of random strokes,
     deterministic) into a temporary folder. 97 is deliberately not a multiple of 600, sae's
     eval batch size, so a last partial batch is part of the test;
  2. for each kind of code (KINDS: sigmoid by default, relu, topk --k 4, batchtopk --k 4,
     jumprelu, each with its other defaults), `sae train --epochs 1` on it, then
     `sae eval --json` and `sae encode` on the resulting model.pt;
  3. the archive's state_dict() must hold exactly the reference model's 12 parameter names and
     the kind's own tensor, with their shapes, and load into the plain module of that kind with
     strict=True. The kind's tensor must hold what training made of it (batchtopk's threshold
     above its initial 0, jumprelu's threshold off its initial value), or the
     comparisons below could not tell a threshold from none;
  3b. the archive is also a TorchScript module that runs as it is: `m = torch.jit.load(path)`
     alone, with no class of this test or of sae_reference.py, gives (reconstruction, code) from
     m(x), m.encode(x) the same code and m.decode(m.encode(x)) the same reconstruction, carries
     the kind's name (m.code_kind), k (m.k, for topk and batchtopk) and m.active_threshold, and
     its numbers go through the same comparisons as the plain module's below;
  4. this test reads the test IDX file itself and computes, by README's definitions, with the
     module in eval mode (x = uint8 / 255 as float32, sums in float64):
       mse             = sum of squared errors / (N * 784)
       thresholded_mse = the same, decoding the code with its inactive units zeroed
       mean_l0         = active units per image, mean over the N images
       dead_units      = units active on no test image
       kl  = sum_j rho*log(rho/p_j) + (1-rho)*log((1-rho)/(1-p_j)),
             p = rho_hat (mean code over all N test images) clamped to [1e-6, 1 - 1e-6]
     where a unit is active when its code is above 0.5 (sigmoid) or above 0 (every other kind),
     and compares them with the JSON, for the plain module and for the TorchScript module alike;
     and the codes of both with `sae encode`'s codes.npy.

Tolerance: |mse - mse_sae| <= 1e-7 (absolute; the real differences are ~1e-9), the same for
thresholded_mse; mean_l0 within 1e-9 and dead_units exactly (they are counts);
|kl - kl_sae| <= 1e-5 * max(1, |kl_sae|) (relative, absolute below 1); each code within
1e-6 * max(1, |code|). Both sides run the same float32 network on the CPU, so only float
rounding separates them (about 1e-9 on mse and 1e-7 on kl here, the codes agree to the bit); a
wrong layer, activation, threshold, tie rule, name or formula misses by far more. After one epoch
of 3 steps the reconstruction is still nearly flat, so mse mostly checks the decoder; kl, L0 and
the codes, through the code of every test image, check the encoder and the kind's activation on
the real inputs. kl is required of the sigmoid code, whose penalty it is, and compared for the
others wherever `sae eval` reports it as a number.

Both `sae` runs use --device cpu and --threads 1, so the comparison does not depend on the
machine having a GPU (where cuDNN's TF32 convolutions would differ by more than the tolerance).

Usage:   test_pytorch_interop.py --sae PATH_TO_SAE_BINARY
Exit:    0 pass, 1 mismatch or failure, 77 skipped (python3-torch is not installed).
"""

import argparse
import gzip
import io
import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

try:
    import numpy
    import torch
except ImportError:
    print("SKIP: python3-torch (with numpy) is not installed")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from sae_reference import (IMAGES_MAGIC, INITIAL_THRESHOLD, LABELS_MAGIC, SIDE,  # noqa: E402
                           TEST_IMAGES, SparseAutoencoder, kl_sparsity, read_idx_images,
                           state_dict_shapes, to_float)

MSE_TOL_ABS = 1e-7  # real differences are ~1e-9; this still catches a one-pixel shift
KL_TOL_REL = 1e-5
L0_TOL_ABS = 1e-9  # a count over N images: only the division rounds
CODES_TOL = 1e-6  # sae encode against the plain encoder, per code value (relative above 1)

# Every kind of code, as (--code, --k): None is the flag left out, so the first checks that the
# default is the original sigmoid code. k = 4 of 64 keeps the TopK codes visibly sparse.
KINDS = (
    (None, None),
    ("relu", None),
    ("topk", 4),
    ("batchtopk", 4),
    ("jumprelu", None),
)

N_TRAIN = 300
N_TEST = 97  # not a multiple of 600 (sae eval's batch size), on purpose
DATA_SEED = 20240613
SAE_TIMEOUT_S = 600


# ---------------------------------------------------------------------------- synthetic data

def stroke_image(rng):
    """One 28x28 uint8 image: 1 to 3 straight strokes, 2-3 pixels thick, of random brightness."""
    pixels = bytearray(SIDE * SIDE)
    for _ in range(rng.randint(1, 3)):
        x0, y0 = rng.uniform(3, 24), rng.uniform(3, 24)
        x1, y1 = rng.uniform(3, 24), rng.uniform(3, 24)
        value = rng.randint(128, 255)
        radius = rng.choice((1.0, 1.5))
        steps = max(1, int(2 * math.hypot(x1 - x0, y1 - y0)))
        for s in range(steps + 1):
            t = s / steps
            cx, cy = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
            for y in range(int(cy - radius), int(cy + radius) + 1):
                for x in range(int(cx - radius), int(cx + radius) + 1):
                    inside = (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2
                    if 0 <= x < SIDE and 0 <= y < SIDE and inside:
                        pixels[y * SIDE + x] = max(pixels[y * SIDE + x], value)
    return bytes(pixels)


def write_idx_pair(data_dir, prefix, count, rng):
    """Writes PREFIX-images-idx3-ubyte.gz and PREFIX-labels-idx1-ubyte.gz with `count` images."""
    images = b"".join(stroke_image(rng) for _ in range(count))
    labels = bytes(rng.randrange(10) for _ in range(count))
    with gzip.open(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">IIII", IMAGES_MAGIC, count, SIDE, SIDE) + images)
    with gzip.open(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">II", LABELS_MAGIC, count) + labels)


# ---------------------------------------------------------------------------- running sae

def run_sae(sae, args, cwd):
    """Runs `sae ARGS`; returns its stdout, or stops the test with sae's stderr on failure."""
    cmd = [sae] + args
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=SAE_TIMEOUT_S)
    if proc.returncode != 0:
        fail(f"`{' '.join(cmd)}` exited with {proc.returncode}:\n{proc.stderr.strip()}")
    return proc.stdout


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


# ---------------------------------------------------------------------------- the checks

def check_state_dict(state, code):
    """The archive's tensors must be exactly the reference model's 12 parameter names and the
    kind's own tensor, with their shapes."""
    expected = state_dict_shapes(code)
    names = list(state.keys())
    if sorted(names) != sorted(expected):
        fail(f"{code}: model.pt's state_dict() names are {names},\n      expected {list(expected)}")
    wrong = [f"{name}: {tuple(state[name].shape)}, expected {shape}"
             for name, shape in expected.items() if tuple(state[name].shape) != shape]
    if wrong:
        fail(f"{code}: model.pt's tensor shapes differ from the reference model's:\n  "
             + "\n  ".join(wrong))


def check_code_tensor(state, code):
    """The kind's own tensor must be the one training moved, not the value it starts from: with
    the initial threshold every comparison below would hold just as well without it. Returns
    what to print of it."""
    if code == "batchtopk":
        threshold = state["threshold"].item()
        if not threshold > 0:
            fail(f"batchtopk: model.pt's threshold is {threshold}, still its initial 0 after "
                 "training; the buffer is not saved, or training does not move it")
        return f"threshold {threshold:.6g}"
    if code == "jumprelu":
        theta = state["threshold"]
        initial = torch.full_like(theta, INITIAL_THRESHOLD)
        if torch.equal(theta, initial):
            fail(f"jumprelu: model.pt's threshold is {INITIAL_THRESHOLD} for every unit, "
                 "its initial value; the parameter is not saved, or training does not move it")
        return f"theta {theta.min().item():.6g}..{theta.max().item():.6g}"
    return ""


def squared_error(drawn, images):
    """Sum of squared errors, in float64."""
    return (drawn.double() - images.double()).pow(2).sum().item()


def python_metrics(model, images, rho):
    """What `sae eval` reports of `model` (in eval mode) on `images`, by README's definitions,
    summed in float64; and the codes (N, 64)."""
    with torch.no_grad():
        reconstruction, code = model(images)       # (N, 1, 28, 28), (N, 64)
        active = code > model.active_threshold     # (N, 64)
        thresholded = model.decode(code * active)  # inactive units zeroed
    n = images.shape[0]
    pixels = n * SIDE * SIDE
    return {
        "mse": squared_error(reconstruction, images) / pixels,
        "thresholded_mse": squared_error(thresholded, images) / pixels,
        "mean_l0": active.sum().item() / n,
        "dead_units": int((~active.any(dim=0)).sum().item()),
        "kl": kl_sparsity(code.double().mean(dim=0), rho).item(),  # rho_hat (64,) clamped there
    }, code


def compare_metrics(code, result, ours, label=None):
    """Prints each metric of `sae eval` beside this module's; returns the mismatches, named by
    `label` (default: the code)."""
    kl_reported = isinstance(result.get("kl"), (int, float)) and math.isfinite(result["kl"])
    tolerances = [("mse", MSE_TOL_ABS, "absolute"), ("thresholded_mse", MSE_TOL_ABS, "absolute"),
                  ("mean_l0", L0_TOL_ABS, "absolute"), ("dead_units", 0, "exact")]
    if code == "sigmoid" or kl_reported:
        kl_tol = KL_TOL_REL * max(1.0, abs(result["kl"])) if kl_reported else 0.0
        tolerances.append(("kl", kl_tol, f"= {KL_TOL_REL:g} relative"))
    problems = []
    for key, tolerance, how in tolerances:
        theirs = result.get(key)
        if not isinstance(theirs, (int, float)):
            problems.append(
                f"{label or code}: `sae eval --json` has no number under '{key}' ({theirs!r})")
            continue
        diff = abs(ours[key] - theirs)
        print(f"  {key:<16} sae eval {theirs:<20.12g} PyTorch {ours[key]:<20.12g} "
              f"|diff| {diff:.3g}  (tolerance {tolerance:.3g} {how})")
        if not diff <= tolerance:  # `not <=` so that a NaN fails too
            problems.append(f"{label or code}: {key} differs by {diff:.3g} > {tolerance:.3g}")
    return problems


def check_script(checkpoint, code, k, images):
    """model.pt run as README shows it, by torch.jit.load alone: its methods and attributes
    must be there and agree with one another. Stops the test when they do not; returns the
    module, for python_metrics."""
    try:
        script = torch.jit.load(checkpoint, map_location="cpu")
        with torch.no_grad():
            reconstruction, codes = script(images)  # (N, 1, 28, 28), (N, 64)
            encoded = script.encode(images)
            decoded = script.decode(encoded)
    except Exception as e:  # noqa: BLE001 -- any failure here is the finding
        fail(f"{code}: torch.jit.load({checkpoint})(x) fails: {type(e).__name__}: "
             f"{(str(e).strip().splitlines() or [''])[-1]}")
    if tuple(reconstruction.shape) != (N_TEST, 1, SIDE, SIDE) or tuple(codes.shape) != (N_TEST, 64):
        fail(f"{code}: the TorchScript forward gives shapes {tuple(reconstruction.shape)} and "
             f"{tuple(codes.shape)}, expected ({N_TEST}, 1, {SIDE}, {SIDE}) and ({N_TEST}, 64)")
    if not torch.equal(encoded, codes) or not torch.equal(decoded, reconstruction):
        fail(f"{code}: m.encode(x) or m.decode(m.encode(x)) differs from m(x)")
    expected = {"code_kind": code, "active_threshold": 0.5 if code == "sigmoid" else 0.0}
    if k is not None:
        expected["k"] = k
    found = {name: getattr(script, name, None) for name in expected}
    if found != expected:
        fail(f"{code}: the TorchScript module's attributes are {found}, expected {expected}")
    return script


def check_codes(code, what, codes, reference_codes):
    """The codes of `what` are the plain module's within CODES_TOL; returns the mismatches."""
    # Relative above 1: relu-like codes are not bounded by 1 as sigmoid codes are.
    reference = reference_codes.double()
    worst = ((codes.double() - reference).abs() / reference.abs().clamp(min=1.0)).max().item()
    print(f"  {what:<16} codes within {worst:.3g} of the plain encoder (tolerance {CODES_TOL:g})")
    if not worst <= CODES_TOL:
        return [f"{code}: {what}'s codes differ from the plain PyTorch encoder by {worst:.3g} > "
                f"{CODES_TOL:g}"]
    return []


def check_encode(sae, tmp, checkpoint, data_dir, code, reference_codes):
    """`sae encode`: codes.npy and labels.npy load with numpy, byte for byte as numpy.save
    writes the same arrays, and the codes are the plain module's within CODES_TOL."""
    encoded = os.path.join(tmp, f"encoded-{code}")
    run_sae(sae, ["encode", "--checkpoint", checkpoint, "--data-dir", data_dir, "--out", encoded,
                  "--device", "cpu", "--threads", "1", "--quiet"], tmp)
    codes_path = os.path.join(encoded, "codes.npy")
    labels_path = os.path.join(encoded, "labels.npy")
    codes = numpy.load(codes_path)
    labels = numpy.load(labels_path)
    if codes.dtype != numpy.float32 or codes.shape != (N_TEST, 64):
        fail(f"{code}: codes.npy holds {codes.dtype} {codes.shape}, "
             f"expected float32 ({N_TEST}, 64)")
    if labels.dtype != numpy.uint8 or labels.shape != (N_TEST,):
        fail(f"{code}: labels.npy holds {labels.dtype} {labels.shape}, expected uint8 ({N_TEST},)")
    for path, array in ((codes_path, codes), (labels_path, labels)):
        written = io.BytesIO()
        numpy.save(written, array)
        with open(path, "rb") as f:
            if f.read() != written.getvalue():
                fail(f"{code}: {path} differs from what numpy.save writes for the same array")
    reference = reference_codes.numpy()
    # Relative above 1: relu-like codes are not bounded by 1 as sigmoid codes are.
    excess = numpy.abs(codes - reference) / numpy.maximum(1.0, numpy.abs(reference))
    worst = float(excess.max())
    print(f"  sae encode       codes.npy ({N_TEST}, 64) and labels.npy match numpy.save's bytes; "
          f"codes within {worst:.3g} of the plain encoder (tolerance {CODES_TOL:g})")
    if not worst <= CODES_TOL:
        return [f"{code}: codes.npy differs from the plain PyTorch encoder by {worst:.3g} > "
                f"{CODES_TOL:g}"]
    return []


def check_kind(sae, tmp, data_dir, images, flag_code, k):
    """Trains one run of the kind, loads its model.pt into the plain module, and compares. Stops
    the test on a broken archive; returns the metrics that differ."""
    code = flag_code or "sigmoid"
    flags = (["--code", flag_code] if flag_code else []) + (["--k", str(k)] if k else [])
    if flag_code == "jumprelu":
        # theta starts where the z of 3 steps on random strokes are, so that it moves and the
        # comparison tells a threshold from none (at the default 10, no z reaches it yet).
        flags += ["--threshold-init", "0.05"]
    run_dir = os.path.join(tmp, f"run-{code}")
    run_sae(sae, ["train", "--epochs", "1", "--data-dir", data_dir, "--out", run_dir,
                  "--device", "cpu", "--quiet", "--threads", "1"] + flags, tmp)
    checkpoint = os.path.join(run_dir, "model.pt")
    stdout = run_sae(sae, ["eval", "--checkpoint", checkpoint, "--data-dir", data_dir,
                           "--device", "cpu", "--json", "--threads", "1"], tmp)
    try:
        result = json.loads(stdout)
    except json.JSONDecodeError as e:
        fail(f"{code}: `sae eval --json` did not print one JSON object ({e}):\n{stdout}")
    if result.get("images") != N_TEST:
        fail(f"{code}: `sae eval` evaluated {result.get('images')} images, expected {N_TEST}")

    state = torch.jit.load(checkpoint, map_location="cpu").state_dict()
    check_state_dict(state, code)
    kept = check_code_tensor(state, code)
    model = SparseAutoencoder(code, k)
    model.load_state_dict(state, strict=True)
    model.eval()  # batchtopk: the saved threshold, not the batch's own selection
    ours, reference_codes = python_metrics(model, images, float(result["rho"]))
    # The TorchScript module's own forward, in place of the plain module: README's snippet.
    script = check_script(checkpoint, code, k, images)
    scripted, script_codes = python_metrics(script, images, float(result["rho"]))

    print(f"{' '.join(['sae train'] + (flags or ['(default code: sigmoid)']))}: "
          f"{len(state)} tensors{', ' + kept if kept else ''}")
    print("  plain module (sae_reference.SparseAutoencoder, load_state_dict):")
    problems = compare_metrics(code, result, ours)
    print("  TorchScript module (torch.jit.load alone):")
    problems += compare_metrics(code, result, scripted, label=f"{code} (TorchScript)")
    problems += check_codes(code, "TorchScript", script_codes, reference_codes)
    return problems + check_encode(sae, tmp, checkpoint, data_dir, code, reference_codes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sae", required=True, help="path to the sae binary")
    sae = os.path.abspath(parser.parse_args().sae)
    if not os.access(sae, os.X_OK):
        fail(f"{sae} is not an executable file")
    torch.set_num_threads(1)
    started = time.monotonic()

    problems = []
    with tempfile.TemporaryDirectory(prefix="sae-interop-") as tmp:
        data_dir = os.path.join(tmp, "data")
        os.mkdir(data_dir)
        rng = random.Random(DATA_SEED)
        write_idx_pair(data_dir, "train", N_TRAIN, rng)
        write_idx_pair(data_dir, "t10k", N_TEST, rng)
        images = to_float(read_idx_images(os.path.join(data_dir, TEST_IMAGES + ".gz")))
        print(f"test images: {N_TEST}")
        for flag_code, k in KINDS:
            problems += check_kind(sae, tmp, data_dir, images, flag_code, k)
    print(f"took {time.monotonic() - started:.1f} s")

    if problems:
        fail("the plain PyTorch module does not reproduce `sae eval`:\n  " + "\n  ".join(problems))
    print(f"PASS: model.pt of each of the {len(KINDS)} kinds of code loads into the reference "
          "model's PyTorch module, runs by torch.jit.load alone, and both reproduce sae eval")
    return 0


if __name__ == "__main__":
    sys.exit(main())
