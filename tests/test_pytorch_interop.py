#!/usr/bin/python3
"""A model.pt written by `sae` works in plain PyTorch, and gives the numbers `sae eval` gives.

README's "Loading model.pt in Python" promises that the TorchScript archive `sae` writes loads,
by its state_dict(), into the seed's plain PyTorch module (nn.Conv2d / nn.ConvTranspose2d named
enc1..enc3, dec1..dec3), and that this module then reproduces `sae eval`. This test checks that
promise end to end, through the real binary:

  1. it writes a tiny synthetic IDX data set (300 train / 97 test images of random strokes,
     deterministic) into a temporary folder. 97 is deliberately not a multiple of 600, sae's
     eval batch size, so a last partial batch is part of the test;
  2. `sae train --epochs 1` on it, then `sae eval --json` on the resulting model.pt;
  3. the archive's state_dict() must hold exactly the seed's 12 parameter names, with the seed's
     shapes, and load into the plain module below with strict=True;
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
    import torch
    from torch import nn
except ImportError:
    print("SKIP: python3-torch is not installed")
    sys.exit(77)

MSE_TOL_ABS = 1e-7  # real differences are ~1e-9; this still catches a one-pixel shift
KL_TOL_REL = 1e-5
RHO_HAT_EPS = 1e-6

N_TRAIN = 300
N_TEST = 97  # not a multiple of 600 (sae eval's batch size), on purpose
SIDE = 28
DATA_SEED = 20240613
SAE_TIMEOUT_S = 600

# The seed's parameters, in the seed module's order, with their shapes.
SEED_PARAMETERS = {
    "enc1.weight": (16, 1, 3, 3),
    "enc1.bias": (16,),
    "enc2.weight": (32, 16, 3, 3),
    "enc2.bias": (32,),
    "enc3.weight": (64, 32, 7, 7),
    "enc3.bias": (64,),
    "dec1.weight": (64, 32, 7, 7),  # ConvTranspose2d weights are (in, out, kH, kW)
    "dec1.bias": (32,),
    "dec2.weight": (32, 16, 3, 3),
    "dec2.bias": (16,),
    "dec3.weight": (16, 1, 3, 3),
    "dec3.bias": (1,),
}


class SparseAutoencoder(nn.Module):
    """The seed's module, exactly as in README's "Loading model.pt in Python"."""

    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.enc2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.enc3 = nn.Conv2d(32, 64, 7)
        self.dec1 = nn.ConvTranspose2d(64, 32, 7)
        self.dec2 = nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)
        self.dec3 = nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x):  # x: (B, 1, 28, 28) in [0, 1]
        h = torch.sigmoid(self.enc3(torch.relu(self.enc2(torch.relu(self.enc1(x))))))
        x = torch.relu(self.dec2(torch.relu(self.dec1(h))))
        return torch.sigmoid(self.dec3(x)), h.flatten(1)


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
        f.write(struct.pack(">IIII", 0x00000803, count, SIDE, SIDE) + images)
    with gzip.open(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">II", 0x00000801, count) + labels)


def read_idx_images(path):
    """Reads a gzip IDX3 image file back into a float32 tensor (N, 1, 28, 28) of uint8 / 255."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    assert (magic, rows, cols) == (0x00000803, SIDE, SIDE) and len(raw) == 16 + n * rows * cols
    pixels = torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8).reshape(n, 1, rows, cols)
    return pixels.to(torch.float32) / 255


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
    """The archive's parameters must be exactly the seed's 12 names, with the seed's shapes."""
    names = list(state.keys())
    if sorted(names) != sorted(SEED_PARAMETERS):
        fail(f"model.pt's state_dict() names are {names},\n      expected {list(SEED_PARAMETERS)}")
    wrong = [f"{name}: {tuple(state[name].shape)}, expected {shape}"
             for name, shape in SEED_PARAMETERS.items() if tuple(state[name].shape) != shape]
    if wrong:
        fail("model.pt's parameter shapes differ from the seed's:\n  " + "\n  ".join(wrong))


def python_metrics(model, images, rho):
    """mse and kl of `model` on `images`, by README's definitions, summed in float64."""
    with torch.no_grad():
        reconstruction, code = model(images)
    n = images.shape[0]
    squared_error = (reconstruction.double() - images.double()).pow(2).sum().item()
    mse = squared_error / (n * SIDE * SIDE)
    p = code.double().mean(dim=0).clamp(RHO_HAT_EPS, 1 - RHO_HAT_EPS)  # rho_hat, (64,)
    kl = (rho * torch.log(rho / p) + (1 - rho) * torch.log((1 - rho) / (1 - p))).sum().item()
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

        images = read_idx_images(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"))
        mse, kl = python_metrics(model, images, float(result["rho"]))

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
    print("PASS: model.pt loads into the seed's PyTorch module and reproduces sae eval")
    return 0


if __name__ == "__main__":
    sys.exit(main())
