#!/usr/bin/python3
"""Plain-PyTorch reference for `sae train`: the baseline that scripts/bench.sh measures sae against.

It is the reference model (the original network) written in the most direct PyTorch there is
(an nn.Module with nn.Conv2d / nn.ConvTranspose2d layers named enc1..dec3, autograd,
torch.optim.Adam, F.mse_loss), doing the same job as `sae train`. The model, the loss and the IDX
reader are scripts/sae_reference.py's, shared with tests/test_pytorch_interop.py and
scripts/golden.py:

  * data: the four MNIST-format IDX files (.gz or raw) in --data-dir, read with gzip;
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
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sae_reference import (TEST_IMAGES, TRAIN_IMAGES, SparseAutoencoder, kl_sparsity,  # noqa: E402
                           load_images, sparse_loss, to_float)


def train_one_epoch(model, optimizer, images, args, generator):
    """One pass over `images`; returns (mean loss, mean mse, mean kl, seconds of the loop).
    Each batch goes to --device when it is used, as sae's do."""
    model.train()
    n = images.shape[0]
    loss_sum = mse_sum = kl_sum = 0.0
    start = time.perf_counter()
    order = torch.randperm(n, generator=generator)
    for begin in range(0, n, args.batch_size):  # the last partial batch is kept
        x = to_float(images[order[begin:begin + args.batch_size]].to(args.device))
        recon, code = model(x)
        loss, mse, kl, _ = sparse_loss(recon, x, code, args.beta, args.rho)
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
    # double: 7.8M pixels lose nothing
    squared_error = torch.zeros((), dtype=torch.float64, device=args.device)
    code_sum = torch.zeros(64, dtype=torch.float64, device=args.device)
    for begin in range(0, n, args.test_batch_size):
        x = to_float(images[begin:begin + args.test_batch_size].to(args.device))
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
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="where the model runs (cuda: scripts/gpu-check.sh's GPU ratio)")
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

    train_images = load_images(args.data_dir, TRAIN_IMAGES)
    test_images = load_images(args.data_dir, TEST_IMAGES)
    if args.limit > 0:
        train_images = train_images[:args.limit]

    torch.manual_seed(args.seed)  # the initial weights
    model = SparseAutoencoder().to(args.device)
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
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (OSError, ValueError) as e:  # bad or missing data: one line, not a traceback
        sys.exit(f"reference.py: error: {e}")
