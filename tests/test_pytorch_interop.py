#!/usr/bin/python3
"""A model.pt written by `sae` works in plain PyTorch, and gives the numbers `sae eval` gives.

README's "Loading model.pt in Python" promises that the TorchScript archive `sae` writes loads,
by its state_dict(), into the reference model's plain PyTorch module (nn.Conv2d /
nn.ConvTranspose2d named enc1..enc3, dec1..dec3; scripts/sae_reference.py's SparseAutoencoder,
the module README shows), and that this module then reproduces `sae eval`. This test checks that
promise end to end, through the real binary:

  1. it writes a tiny synthetic IDX data set (300 train / 97 test images of random strokes,
     deterministic) into a temporary folder. 97 is deliberately not a multiple of 600, sae's
     eval batch size, so a last partial batch is part of the test;
  2. `sae train --epochs 1` on it, then `sae eval --json` on the resulting model.pt;
  3. the archive's state_dict() must hold exactly the reference model's 12 parameter names,
     with its shapes, and load into the plain module with strict=True;
  4. this test reads the test IDX file itself and computes, by README's definitions,
       mse = sum of squared errors / (N * 784)             x = uint8 / 255 as float32
       kl  = sum_j rho*log(rho/p_j) + (1-rho)*log((1-rho)/(1-p_j)),
             p = rho_hat (mean code over all N test images) clamped to [1e-6, 1 - 1e-6]
     with the sums in float64, and compares them with the JSON.

Tolerance: |mse - mse_sae| <= 1e-7 (absolute; the real differences are ~1e-9), |kl - kl_sae| <= 1e-5 * max(1, |kl_sae|)
(relative, absolute below 1). Both sides run the same float32 network on the CPU, so only
float rounding separates them (about 1e-9 on mse and 1e-7 on kl here); a wrong layer,
activation, name or formula misses by far more. After one epoch of 3 steps the reconstruction
is still nearly flat, so mse mostly checks the decoder; kl, through the code of every test
image, checks the encoder on the real inputs.

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
from sae_reference import (IMAGES_MAGIC, LABELS_MAGIC, PARAMETER_SHAPES, SIDE,  # noqa: E402
                           TEST_IMAGES, SparseAutoencoder, kl_sparsity, read_idx_images, to_float)

MSE_TOL_ABS = 1e-7  # real differences are ~1e-9; this still catches a one-pixel shift
KL_TOL_REL = 1e-5
CODES_TOL_ABS = 1e-6  # sae encode against the plain encoder, per code value in (0, 1)

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

def check_state_dict(state):
    """The archive's parameters must be exactly the reference model's 12 names, with its shapes."""
    names = list(state.keys())
    if sorted(names) != sorted(PARAMETER_SHAPES):
        fail(f"model.pt's state_dict() names are {names},\n      expected {list(PARAMETER_SHAPES)}")
    wrong = [f"{name}: {tuple(state[name].shape)}, expected {shape}"
             for name, shape in PARAMETER_SHAPES.items() if tuple(state[name].shape) != shape]
    if wrong:
        fail("model.pt's parameter shapes differ from the reference model's:\n  "
             + "\n  ".join(wrong))


def python_metrics(model, images, rho):
    """mse and kl of `model` on `images`, by README's definitions, summed in float64."""
    with torch.no_grad():
        reconstruction, code = model(images)
    n = images.shape[0]
    squared_error = (reconstruction.double() - images.double()).pow(2).sum().item()
    mse = squared_error / (n * SIDE * SIDE)
    kl = kl_sparsity(code.double().mean(dim=0), rho).item()  # rho_hat (64,) is clamped there
    return mse, kl


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sae", required=True, help="path to the sae binary")
    sae = os.path.abspath(parser.parse_args().sae)
    if not os.access(sae, os.X_OK):
        fail(f"{sae} is not an executable file")
    torch.set_num_threads(1)
    started = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="sae-interop-") as tmp:
        data_dir = os.path.join(tmp, "data")
        run_dir = os.path.join(tmp, "run")
        os.mkdir(data_dir)
        rng = random.Random(DATA_SEED)
        write_idx_pair(data_dir, "train", N_TRAIN, rng)
        write_idx_pair(data_dir, "t10k", N_TEST, rng)

        run_sae(sae, ["train", "--epochs", "1", "--data-dir", data_dir, "--out", run_dir,
                      "--device", "cpu", "--quiet", "--threads", "1"], tmp)
        checkpoint = os.path.join(run_dir, "model.pt")
        stdout = run_sae(sae, ["eval", "--checkpoint", checkpoint, "--data-dir", data_dir,
                               "--device", "cpu", "--json", "--threads", "1"], tmp)
        try:
            result = json.loads(stdout)
        except json.JSONDecodeError as e:
            fail(f"`sae eval --json` did not print one JSON object ({e}):\n{stdout}")
        if result.get("images") != N_TEST:
            fail(f"`sae eval` evaluated {result.get('images')} images, expected {N_TEST}")

        state = torch.jit.load(checkpoint, map_location="cpu").state_dict()
        check_state_dict(state)
        model = SparseAutoencoder()
        model.load_state_dict(state, strict=True)
        model.eval()

        images = to_float(read_idx_images(os.path.join(data_dir, TEST_IMAGES + ".gz")))
        mse, kl = python_metrics(model, images, float(result["rho"]))

        # `sae encode`: codes.npy and labels.npy load with numpy, byte for byte as numpy.save
        # writes the same arrays, and the codes are the plain module's within 1e-6.
        encoded = os.path.join(tmp, "encoded")
        run_sae(sae, ["encode", "--checkpoint", checkpoint, "--data-dir", data_dir, "--out",
                      encoded, "--device", "cpu", "--threads", "1", "--quiet"], tmp)
        codes_path = os.path.join(encoded, "codes.npy")
        labels_path = os.path.join(encoded, "labels.npy")
        codes = numpy.load(codes_path)
        labels = numpy.load(labels_path)
        if codes.dtype != numpy.float32 or codes.shape != (N_TEST, 64):
            fail(f"codes.npy holds {codes.dtype} {codes.shape}, expected float32 ({N_TEST}, 64)")
        if labels.dtype != numpy.uint8 or labels.shape != (N_TEST,):
            fail(f"labels.npy holds {labels.dtype} {labels.shape}, expected uint8 ({N_TEST},)")
        for path, array in ((codes_path, codes), (labels_path, labels)):
            written = io.BytesIO()
            numpy.save(written, array)
            with open(path, "rb") as f:
                if f.read() != written.getvalue():
                    fail(f"{path} differs from what numpy.save writes for the same array")
        with torch.no_grad():
            _, reference_codes = model(images)
        d_codes = float(numpy.abs(codes - reference_codes.numpy()).max())
        if not d_codes <= CODES_TOL_ABS:
            fail(f"codes.npy differs from the plain PyTorch encoder by {d_codes:.3g} > "
                 f"{CODES_TOL_ABS:g}")
        print(f"sae encode: codes.npy ({N_TEST}, 64) and labels.npy match numpy.save's bytes; "
              f"codes within {d_codes:.3g} of the plain encoder (tolerance {CODES_TOL_ABS:g})")

    d_mse = abs(mse - result["mse"])
    d_kl = abs(kl - result["kl"])
    kl_tol = KL_TOL_REL * max(1.0, abs(result["kl"]))
    print(f"test images: {N_TEST}, rho {result['rho']}, beta {result['beta']}")
    print(f"mse  sae eval {result['mse']:.12g}  PyTorch {mse:.12g}  |diff| {d_mse:.3g}"
          f"  (tolerance {MSE_TOL_ABS:g} absolute)")
    print(f"kl   sae eval {result['kl']:.12g}  PyTorch {kl:.12g}  |diff| {d_kl:.3g}"
          f"  (tolerance {kl_tol:.3g} = {KL_TOL_REL:g} relative)")
    print(f"took {time.monotonic() - started:.1f} s")

    problems = []
    if not d_mse <= MSE_TOL_ABS:  # `not <=` so that a NaN fails too
        problems.append(f"mse differs by {d_mse:.3g} > {MSE_TOL_ABS:g}")
    if not d_kl <= kl_tol:
        problems.append(f"kl differs by {d_kl:.3g} > {kl_tol:.3g}")
    if problems:
        fail("the plain PyTorch module does not reproduce `sae eval`: " + "; ".join(problems))
    print("PASS: model.pt loads into the reference model's PyTorch module and reproduces sae eval")
    return 0


if __name__ == "__main__":
    sys.exit(main())
