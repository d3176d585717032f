#!/usr/bin/python3
"""Plain-PyTorch reference for `sae train`: the baseline that scripts/bench.sh measures sae against.

It is the seed's convolutional sparse autoencoder written in the most direct PyTorch there is
(an nn.Module with nn.Conv2d / nn.ConvTranspose2d layers named enc1..dec3, autograd,
torch.optim.Adam, F.mse_loss), doing the same job as `sae train`:

  * data: the four MNIST-format IDX files (.gz or raw) in --data-dir, read here with gzip + numpy;
    the images stay a uint8 tensor and each batch is converted to float / 255 when it is used;
  * model: enc1 Conv2d(1,16,3,s2,p1) -> ReLU -> enc2 Conv2d(16,32,3,s2,p1) -> ReLU ->
    enc3 Conv2d(32,64,7) -> sigmoid = code h (B,64) -> dec1 ConvTranspose2d(64,32,7) -> ReLU ->
    dec2 ConvTranspose2d(32,16,3,s2,p1,op1) -> ReLU -> dec3 ConvTranspose2d(16,1,3,s2,p1,op1) -> sigmoid;
  * loss: mse(recon, x) + beta * sum_j KL(rho || rho_hat_j), rho_hat = h.mean(0) clamped to
    [1e-6, 1 - 1e-6]; Adam(lr, betas 0.9/0.999, eps 1e-8); batches of 100, the last partial one kept;
  * per epoch: a seeded torch.randperm shuffle, the training loop (timed on its own, as sae's
    images_per_s is), then the whole test set under torch.no_grad() in batches of 600 (timed too).

At the end it prints one JSON line, e.g.
  {"train_images_per_s": ..., "eval_images_per_s": ..., "train_loss": ..., "test_mse": ...,
   "test_kl": ..., "threads": ...}
(speeds over all epochs; losses of the last epoch). Progress goes to stderr.

Run it with Debian's python3-torch (the same LibTorch 1.13 that sae links), e.g.
  /usr/bin/python3 scripts/reference.py --data-dir data/fashion-mnist --epochs 1 --threads 2
  /usr/bin/python3 scripts/reference.py --data-dir data/mnist --limit 2000      # a quick check
"""

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGES_MAGIC = 0x00000803  # IDX: unsigned bytes, 3 dimensions
RHO_HAT_EPS = 1e-6         # keeps every KL term finite, as sae's kRhoHatEps does


def read_idx_images(path):
    """Reads an IDX3 image file (gzip-compressed or raw) into a uint8 tensor (N, 1, 28, 28)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 16:
        raise ValueError(f"{path}: too short for an IDX3 header")
    magic, n, rows, cols = np.frombuffer(raw, dtype=">u4", count=4)
    if magic != IMAGES_MAGIC:
        raise ValueError(f"{path}: magic 0x{magic:08x}, expected 0x{IMAGES_MAGIC:08x} (IDX3 images)")
    if (rows, cols) != (28, 28):
        raise ValueError(f"{path}: images are {rows}x{cols}, expected 28x28")
    if len(raw) != 16 + n * rows * cols:
        raise ValueError(f"{path}: {len(raw) - 16} bytes of pixels, expected {n * rows * cols}")
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 1, rows, cols)
    return torch.from_numpy(pixels.copy())  # copy: frombuffer's array is read-only


def load_images(data_dir, stem):
    """Finds STEM.gz or STEM in data_dir, as sae does, and reads it."""
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return read_idx_images(path)
    raise FileNotFoundError(f"{data_dir}: no {stem}(.gz); run scripts/fetch-data.sh")


class SparseAutoencoder(nn.Module):
    """The seed's architecture; the 64-unit code goes through a sigmoid so rho_hat lies in (0, 1)."""

    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.enc2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.enc3 = nn.Conv2d(32, 64, 7)
        self.dec1 = nn.ConvTranspose2d(64, 32, 7)
        self.dec2 = nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)
        self.dec3 = nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x):
        x = F.relu(self.enc1(x))         # (B, 16, 14, 14)
        x = F.relu(self.enc2(x))         # (B, 32, 7, 7)
        code = torch.sigmoid(self.enc3(x))  # (B, 64, 1, 1)
        x = F.relu(self.dec1(code))      # (B, 32, 7, 7)
        x = F.relu(self.dec2(x))         # (B, 16, 14, 14)
        recon = torch.sigmoid(self.dec3(x))  # (B, 1, 28, 28)
        return recon, code.flatten(1)    # code: (B, 64)


def kl_sparsity(rho_hat, rho):
    """sum_j KL(rho || rho_hat_j) for Bernoulli distributions."""
    p = rho_hat.clamp(RHO_HAT_EPS, 1.0 - RHO_HAT_EPS)
    return (rho * torch.log(rho / p) + (1.0 - rho) * torch.log((1.0 - rho) / (1.0 - p))).sum()


def to_float(images):
    return images.float() / 255.0


def train_one_epoch(model, optimizer, images, args, generator):
    """One pass over `images`; returns (mean loss, mean mse, mean kl, seconds of the loop)."""
    model.train()
    n = images.shape[0]
    loss_sum = mse_sum = kl_sum = 0.0
    start = time.perf_counter()
    order = torch.randperm(n, generator=generator)
    for begin in range(0, n, args.batch_size):  # the last partial batch is kept
        x = to_float(images[order[begin:begin + args.batch_size]])
        recon, code = model(x)
        mse = F.mse_loss(recon, x)
        kl = kl_sparsity(code.mean(0), args.rho)
        loss = mse + args.beta * kl
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        count = x.shape[0]
        loss_sum += loss.item() * count
        mse_sum += mse.item() * count
        kl_sum += kl.item() * count
    seconds = time.perf_counter() - start
    return loss_sum / n, mse_sum / n, kl_sum / n, seconds


@torch.no_grad()
def evaluate(model, images, args):
    """MSE over every test pixel and the KL of rho_hat over the whole test set, plus seconds."""
    model.eval()
    n = images.shape[0]
    start = time.perf_counter()
    squared_error = torch.zeros((), dtype=torch.float64)  # double: 7.8M pixels lose nothing
    code_sum = torch.zeros(64, dtype=torch.float64)
    for begin in range(0, n, args.test_batch_size):
        x = to_float(images[begin:begin + args.test_batch_size])
        recon, code = model(x)
        squared_error += (recon - x).pow(2).sum().double()
        code_sum += code.sum(0).double()
    mse = squared_error.item() / (n * 28 * 28)
    kl = kl_sparsity(code_sum / n, args.rho).item()
    seconds = time.perf_counter() - start
    return mse, kl, seconds


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default="data/mnist", help="folder with the IDX files")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--test-batch-size", type=int, default=600)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta", type=float, default=0.005)
    p.add_argument("--rho", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=0,
                   help="torch.set_num_threads (0: one per core, like sae; Debian's torch starts with 1)")
    p.add_argument("--limit", type=int, default=0,
                   help="use only the first N training images (0: all); for quick tests")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.test_batch_size < 1 or args.threads < 0:
        p.error("--epochs, --batch-size and --test-batch-size must be >= 1, --threads >= 0")
    if not 0.0 < args.rho < 1.0 or args.beta < 0.0:
        p.error("--rho must lie in (0, 1) and --beta be >= 0")
    return args


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)

    train_images = load_images(args.data_dir, "train-images-idx3-ubyte")
    test_images = load_images(args.data_dir, "t10k-images-idx3-ubyte")
    if args.limit > 0:
        train_images = train_images[:args.limit]

    torch.manual_seed(args.seed)  # the initial weights
    model = SparseAutoencoder()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    generator = torch.Generator().manual_seed(args.seed)  # the data order

    train_seconds = eval_seconds = 0.0
    for epoch in range(1, args.epochs + 1):
        loss, mse, kl, seconds = train_one_epoch(model, optimizer, train_images, args, generator)
        test_mse, test_kl, test_seconds = evaluate(model, test_images, args)
        train_seconds += seconds
        eval_seconds += test_seconds
        print(f"epoch {epoch}/{args.epochs}  train loss {loss:.5f} mse {mse:.5f} kl {kl:.3f} | "
              f"test mse {test_mse:.5f} kl {test_kl:.3f} | "
              f"{train_images.shape[0] / seconds:.0f} img/s  {seconds:.1f} s", file=sys.stderr)

    result = {
        "train_images_per_s": args.epochs * train_images.shape[0] / max(train_seconds, 1e-9),
        "eval_images_per_s": args.epochs * test_images.shape[0] / max(eval_seconds, 1e-9),
        "train_loss": loss,
        "train_mse": mse,
        "train_kl": kl,
        "test_loss": test_mse + args.beta * test_kl,
        "test_mse": test_mse,
        "test_kl": test_kl,
        "train_images": train_images.shape[0],
        "test_images": test_images.shape[0],
        "epochs": args.epochs,
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (OSError, ValueError) as e:  # bad or missing data: one line, not a traceback
        sys.exit(f"reference.py: error: {e}")
