"""The reference model, its loss and the IDX reader, in plain PyTorch: one copy for every script.

`sae` is checked against this module in three places, and all three import it from here:

  * scripts/reference.py, the baseline that scripts/bench.sh times `sae train` against;
  * tests/test_pytorch_interop.py, which loads a model.pt written by `sae` into
    SparseAutoencoder below and reproduces `sae eval`, and runs the same model.pt by
    torch.jit.load alone against both;
  * scripts/golden.py, which writes tests/golden/first_steps.json, the first training steps
    that the C++ test pins.

SparseAutoencoder is the reference model: the original network the project was created from,
with its layer names, so a checkpoint's parameters are enc1.weight ... dec3.bias. It makes its
code in any of sae's kinds (--code: sigmoid, relu, topk, batchtopk, jumprelu), with the tensor a
kind keeps under sae's name for it (jumprelu's parameter threshold (64), batchtopk's buffer
threshold). It is the module that README's "Loading model.pt in Python" shows, and it must stay
equivalent to it and to src/model/model.cpp and src/model/code/*.cpp. model.pt needs no class
to run (torch.jit.load(path)(x): the TorchScript of src/model/script.cpp, eval mode only); this
module is for reading the network, for training it in Python, and for checking that script.
The loss follows src/model/loss.cpp term for term (the clamp of rho_hat included), for the
sigmoid code.

Import it from a script elsewhere in the repository with
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
It needs torch (Debian's python3-torch is the one `sae` is measured against) and nothing else.
"""

import gzip
import math
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


# The kinds of code, in --code's order, and the tensor each kind keeps beside the 12 parameters,
# under the name sae's model registers it with (so model.pt's state_dict() holds it by that name).
CODES = ("sigmoid", "relu", "topk", "batchtopk", "jumprelu")
CODES_WITH_K = ("topk", "batchtopk")  # the kinds that --k applies to
CODE_TENSOR_SHAPES = {
    "jumprelu": {"threshold": (CODE_SIZE,)},  # a parameter: theta_j, one per unit
    "batchtopk": {"threshold": (1,)},             # a buffer: the inference threshold
}

INITIAL_THRESHOLD = 10.0  # jumprelu's theta at creation: sae's --threshold-init default
THRESHOLD_RATE = 0.01      # how far a batchtopk training step moves the threshold (kThresholdRate)


def state_dict_shapes(code="sigmoid"):
    """Every name in the state_dict() of a model with code kind CODE, with its shape: the 12
    parameters, then the kind's own tensor, if any."""
    return {**PARAMETER_SHAPES, **CODE_TENSOR_SHAPES.get(code, {})}


def topk_mask(z, k):
    """(B, 64) -> (B, 64) of 0/1: each row's k largest z. A stable descending sort puts equal
    values in index order, so ties go to the lower unit index, as in sae's topk_mask and its CPU
    step; torch.topk promises no order among ties."""
    order = torch.sort(z, dim=1, descending=True, stable=True).indices
    return torch.zeros_like(z).scatter_(1, order[:, :k], 1.0)


class SparseAutoencoder(nn.Module):
    """The reference model; forward returns (reconstruction (B, 1, 28, 28), code (B, 64)).

    CODE is how enc3's output z (B, 64) becomes the code h, as `sae train --code` makes it:
      sigmoid    sigmoid(z), every rho_hat_j in (0, 1): the original model's (the default);
      relu       relu(z);
      topk       relu(z) on each image's K largest z, 0 elsewhere (ties: the lower unit index);
      batchtopk  in training, relu(z) on the batch's K * B largest z; in eval mode, relu(z) where
                 z > the buffer `threshold` (1), which each training step moves;
      jumprelu   relu(z) where z > theta_j, threshold = theta a parameter (64).
    K (--k) is given for topk and batchtopk only. jumprelu's threshold gets no gradient here:
    sae trains it with a straight-through estimator (src/model/code/jumprelu.cpp) that this
    module, which exists to load and check model.pt, does not repeat."""

    def __init__(self, code="sigmoid", k=None):
        super().__init__()
        if code not in CODES:
            raise ValueError(f"unknown code '{code}': use {', '.join(CODES)}")
        if code in CODES_WITH_K and not (isinstance(k, int) and 1 <= k <= CODE_SIZE):
            raise ValueError(f"code '{code}' needs k in 1..{CODE_SIZE}, got {k!r}")
        if code not in CODES_WITH_K and k is not None:
            raise ValueError(f"k applies to codes {' and '.join(CODES_WITH_K)}, not '{code}'")
        self.code_kind = code
        self.k = k
        # A unit is active (counts in L0, is alive) above this: a sigmoid code is never 0.
        self.active_threshold = 0.5 if code == "sigmoid" else 0.0
        # Creation order = PARAMETER_SHAPES' order = the order the RNG draws the initial weights.
        self.enc1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.enc2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.enc3 = nn.Conv2d(32, CODE_SIZE, 7)
        self.dec1 = nn.ConvTranspose2d(CODE_SIZE, 32, 7)
        self.dec2 = nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)
        self.dec3 = nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)
        # After the layers and drawn from no RNG, as in sae, so the weights' draws do not move.
        if code == "jumprelu":
            self.threshold = nn.Parameter(torch.full((CODE_SIZE,), INITIAL_THRESHOLD))
        if code == "batchtopk":
            self.register_buffer("threshold", torch.zeros(1))

    def pre_activation(self, x):            # x: (B, 1, 28, 28) in [0, 1]
        x = torch.relu(self.enc1(x))         # (B, 16, 14, 14)
        x = torch.relu(self.enc2(x))         # (B, 32, 7, 7)
        return self.enc3(x).flatten(1)       # (B, 64, 1, 1) -> (B, 64): z

    def activate(self, z):                   # z: (B, 64) -> the code h (B, 64)
        code = self.code_kind
        if code == "sigmoid":
            return torch.sigmoid(z)
        if code == "relu":
            return torch.relu(z)
        if code == "topk":
            return torch.relu(z) * topk_mask(z, self.k)
        if code == "batchtopk":
            return self._batchtopk(z)
        return torch.relu(z) * (z > self.threshold).to(z.dtype)  # jumprelu; threshold (64)

    def _batchtopk(self, z):
        positive = torch.relu(z)
        if not self.training:
            return positive * (z > self.threshold).to(z.dtype)
        flat = positive.detach().flatten()  # (B * 64)
        kept = min(self.k * z.shape[0], flat.numel())
        if kept == 0:
            return positive
        # Ties go to the lower (image, unit) index, as a stable sort of the flat batch gives.
        order = torch.sort(flat, descending=True, stable=True).indices[:kept]
        mask = torch.zeros_like(flat).scatter_(0, order, 1.0).view_as(z)
        values = flat[order]
        positives = values[values > 0]
        if positives.numel() > 0:
            # SAELens's running estimate of the smallest kept value, in the buffer's float32
            # arithmetic as sae moves it.
            with torch.no_grad():
                self.threshold.mul_(1.0 - THRESHOLD_RATE).add_(
                    THRESHOLD_RATE * positives.min().item())
        return positive * mask

    def encode(self, x):                     # (B, 1, 28, 28) -> (B, 64)
        return self.activate(self.pre_activation(x))

    def decode(self, h):                     # h: (B, 64)
        x = torch.relu(self.dec1(h.view(h.shape[0], CODE_SIZE, 1, 1)))  # (B, 32, 7, 7)
        x = torch.relu(self.dec2(x))         # (B, 16, 14, 14)
        return torch.sigmoid(self.dec3(x))   # (B, 1, 28, 28)

    def forward(self, x):
        h = self.encode(x)
        return self.decode(h), h             # (B, 1, 28, 28), (B, 64)


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
