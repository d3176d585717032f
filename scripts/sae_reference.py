"""The reference model, its loss and the IDX reader, in plain PyTorch: one copy for every script.

`sae` is checked against this module in three places, and all three import it from here:

  * scripts/reference.py, the baseline that scripts/bench.sh times `sae train` against;
  * tests/test_pytorch_interop.py, which loads a model.pt written by `sae` into
    SparseAutoencoder below and reproduces `sae eval`;
  * scripts/golden.py, which writes tests/golden/first_steps.json, the first training steps
    that the C++ test pins.

SparseAutoencoder is the reference model: the original network the project was created from,
with its layer names, so a checkpoint's parameters are enc1.weight ... dec3.bias. It is the
module that README's "Loading model.pt in Python" shows, and it must stay equivalent to it and
to src/model.cpp. The loss follows src/loss.cpp term for term (the clamp of rho_hat included).

Import it from a script elsewhere in the repository with
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
It needs torch (Debian's python3-torch is the one `sae` is measured against) and nothing else.
"""

import gzip
import os
import struct

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------- the IDX format

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (count, rows, columns)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (count)
SIDE = 28                  # images are SIDE x SIDE

# The four files of a data folder, without ".gz"; sae reads either the .gz or the raw file.
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"


def read_idx_images(path):
    """Reads an IDX3 image file (gzip-compressed if PATH ends in .gz, else raw) into a uint8
    tensor (N, 1, 28, 28). Raises ValueError, naming the file, on anything sae would refuse."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 16:
        raise ValueError(f"{path}: too short for an IDX3 header")
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != IMAGES_MAGIC:
        raise ValueError(f"{path}: magic 0x{magic:08x}, expected 0x{IMAGES_MAGIC:08x} (IDX3 images)")
    if (rows, cols) != (SIDE, SIDE):
        raise ValueError(f"{path}: images are {rows}x{cols}, expected {SIDE}x{SIDE}")
    if len(raw) != 16 + n * rows * cols:
        raise ValueError(f"{path}: {len(raw) - 16} bytes of pixels, expected {n * rows * cols}")
    # bytearray: torch.frombuffer wants a writable buffer, and the tensor keeps it alive.
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8, offset=16).reshape(n, 1, rows, cols)


def load_images(data_dir, stem):
    """Finds STEM.gz or STEM in data_dir, in that order, as sae does, and reads it."""
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return read_idx_images(path)
    raise FileNotFoundError(f"{data_dir}: no {stem}(.gz); run scripts/fetch-data.sh")


def to_float(images):
    """uint8 images -> float32 in [0, 1], as sae converts each batch when it is used."""
    return images.to(torch.float32) / 255


# ---------------------------------------------------------------------------- the model

CODE_SIZE = 64

# The reference model's parameters, in the order it creates them, with their shapes.
PARAMETER_SHAPES = {
    "enc1.weight": (16, 1, 3, 3),
    "enc1.bias": (16,),
    "enc2.weight": (32, 16, 3, 3),
    "enc2.bias": (32,),
    "enc3.weight": (CODE_SIZE, 32, 7, 7),
    "enc3.bias": (CODE_SIZE,),
    "dec1.weight": (CODE_SIZE, 32, 7, 7),  # ConvTranspose2d weights are (in, out, kH, kW)
    "dec1.bias": (32,),
    "dec2.weight": (32, 16, 3, 3),
    "dec2.bias": (16,),
    "dec3.weight": (16, 1, 3, 3),
    "dec3.bias": (1,),
}


class SparseAutoencoder(nn.Module):
    """The reference model. The 64-unit code goes through a sigmoid, so every rho_hat_j lies in
    (0, 1); forward returns (reconstruction (B, 1, 28, 28), code (B, 64))."""

    def __init__(self):
        super().__init__()
        # Creation order = PARAMETER_SHAPES' order = the order the RNG draws the initial weights.
        self.enc1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.enc2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.enc3 = nn.Conv2d(32, CODE_SIZE, 7)
        self.dec1 = nn.ConvTranspose2d(CODE_SIZE, 32, 7)
        self.dec2 = nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)
        self.dec3 = nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x):                    # x: (B, 1, 28, 28) in [0, 1]
        x = torch.relu(self.enc1(x))         # (B, 16, 14, 14)
        x = torch.relu(self.enc2(x))         # (B, 32, 7, 7)
        h = torch.sigmoid(self.enc3(x))      # (B, 64, 1, 1): the code
        x = torch.relu(self.dec1(h))         # (B, 32, 7, 7)
        x = torch.relu(self.dec2(x))         # (B, 16, 14, 14)
        return torch.sigmoid(self.dec3(x)), h.flatten(1)  # (B, 1, 28, 28), (B, 64)


# ---------------------------------------------------------------------------- the loss

RHO_HAT_EPS = 1e-6  # keeps every KL term finite, as sae's kRhoHatEps does
PENALTIES = ("kl", "l1", "none")


def kl_per_unit(rho_hat, rho):
    """KL(rho || rho_hat_j) of Bernoulli distributions, per unit: (S) -> (S)."""
    p = rho_hat.clamp(RHO_HAT_EPS, 1.0 - RHO_HAT_EPS)
    return rho * torch.log(rho / p) + (1.0 - rho) * torch.log((1.0 - rho) / (1.0 - p))


def kl_sparsity(rho_hat, rho):
    """sum_j KL(rho || rho_hat_j): (S) -> ()."""
    return kl_per_unit(rho_hat, rho).sum()


def sparsity_penalty(rho_hat, rho, penalty="kl"):
    """What beta weighs: "kl" (sum_j KL), "l1" (sum_j mean_i |h_ij|, which is sum_j rho_hat_j
    because the code is positive) or "none" (a plain autoencoder)."""
    if penalty == "kl":
        return kl_sparsity(rho_hat, rho)
    if penalty == "l1":
        return rho_hat.sum()
    if penalty == "none":
        return torch.zeros((), dtype=rho_hat.dtype, device=rho_hat.device)
    raise ValueError(f"unknown penalty '{penalty}': use kl, l1 or none")


def sparse_loss(reconstruction, images, code, beta, rho, penalty="kl"):
    """One batch's loss, as src/loss.cpp's SparseLoss computes it. Returns the scalar tensors
    (total, mse, kl, penalty): total = mse + beta * penalty, and kl = sum_j KL(rho || rho_hat_j)
    whatever the penalty (a diagnostic). rho_hat is the mean of each code unit over the batch."""
    rho_hat = code.mean(0)  # (64,)
    mse = F.mse_loss(reconstruction, images)
    kl = kl_sparsity(rho_hat, rho)
    weighed = kl if penalty == "kl" else sparsity_penalty(rho_hat, rho, penalty)
    return mse + beta * weighed, mse, kl, weighed
