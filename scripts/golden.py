#!/usr/bin/python3
"""Writes tests/golden/first_steps.json: the first 10 training steps of the reference model in
plain PyTorch, for a C++ test to pin `sae` against (as karpathy/llm.c's test_gpt2 pins its
losses and weights against PyTorch).

The run, exactly (the JSON repeats it under "spec"):

  * torch.set_num_threads(1); torch.manual_seed(7); then the reference model is constructed
    (scripts/sae_reference.py's SparseAutoencoder). Its parameters are created in the order
    enc1, enc2, enc3, dec1, dec2, dec3, with PyTorch's default initialisation; LibTorch's C++
    modules initialise identically from the same seed, which the C++ test checks through
    "initial" below.
  * Data: N = 200 images of 28x28 uint8,
        pixel(i, r, c) = (i * 37 + r * 11 + c * 7 + (r * c) % 13) % 256   if (r + c + i) % 5 != 0
                         0                                                 otherwise
    (i the image, r the row, c the column), converted to float32 as x / 255, shape (N, 1, 28, 28).
  * Optimizer: torch.optim.Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0).
  * Loss: MSE(reconstruction, input) + beta * sum_j KL(rho || rho_hat_j), beta = 0.005,
    rho = 0.05, rho_hat_j = the mean over the batch of code unit j, clamped to
    [1e-6, 1 - 1e-6], exactly as src/loss.cpp computes it.
  * 10 steps: step k (0-based) takes images [20k, 20k + 20) in file order; zero_grad, forward,
    loss, backward, step.

Recorded:
  * "losses": the loss of each step, before its optimizer step (float32, written as the float64
    repr of that float32 value);
  * "initial" / "final": for every parameter (enc1.weight, enc1.bias, ...), its "sum" and
    "abs_sum" (the sum of absolute values), computed in float64, before step 1 and after step 10.

The plain torch.nn layers run here; `sae` on the CPU runs its hand-written CPU step, which agrees with them
only to float rounding, so the C++ test needs tolerances, not equality.

Usage:  /usr/bin/python3 scripts/golden.py [--out PATH]   (default: tests/golden/first_steps.json)
The output is deterministic: two runs with the same torch give byte-identical files.
"""

import argparse
import json
import os
import sys

import torch

SCRIPTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPTS_DIR)
from sae_reference import SIDE, SparseAutoencoder, sparse_loss, to_float  # noqa: E402

DEFAULT_OUT = os.path.join(SCRIPTS_DIR, "..", "tests", "golden", "first_steps.json")

SPEC = {
    "threads": 1,
    "manual_seed": 7,
    "model": "the reference model (scripts/sae_reference.py SparseAutoencoder), parameters "
             "created in the order enc1, enc2, enc3, dec1, dec2, dec3 with PyTorch's default "
             "initialisation, right after torch.manual_seed",
    "images": 200,
    "image_shape": [1, SIDE, SIDE],
    "pixel": "pixel(i, r, c) = (i * 37 + r * 11 + c * 7 + (r * c) % 13) % 256 "
             "if (r + c + i) % 5 != 0 else 0, as uint8; i image, r row, c column",
    "input": "float32 pixel / 255",
    "optimizer": {"name": "Adam", "lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8,
                  "weight_decay": 0.0},
    "loss": "mse(reconstruction, input) + beta * sum_j KL(rho || rho_hat_j), rho_hat_j = "
            "mean over the batch of code unit j, clamped to [1e-6, 1 - 1e-6] (src/loss.cpp)",
    "beta": 0.005,
    "rho": 0.05,
    "steps": 10,
    "batch_size": 20,
    "batches": "step k (0-based) takes images [20k, 20k + 20) in file order; "
               "zero_grad, forward, loss, backward, step",
    "losses": "loss of each step before its optimizer step, float32 value",
    "sums": "per parameter, sum and sum of absolute values in float64; initial = before step 1, "
            "final = after the last step",
}


def make_images(n):
    """The golden data set: (n, 1, 28, 28) uint8 by SPEC's pixel formula."""
    i = torch.arange(n, dtype=torch.int64).view(n, 1, 1)
    r = torch.arange(SIDE, dtype=torch.int64).view(1, SIDE, 1)
    c = torch.arange(SIDE, dtype=torch.int64).view(1, 1, SIDE)
    value = (i * 37 + r * 11 + c * 7 + (r * c) % 13) % 256
    value = torch.where((r + c + i) % 5 != 0, value, torch.zeros_like(value))
    return value.to(torch.uint8).unsqueeze(1)


def parameter_sums(model):
    """{name: {"sum": float64 sum, "abs_sum": float64 sum of |w|}} for every parameter."""
    return {name: {"sum": p.detach().double().sum().item(),
                   "abs_sum": p.detach().double().abs().sum().item()}
            for name, p in model.named_parameters()}


def run():
    torch.set_num_threads(SPEC["threads"])
    torch.manual_seed(SPEC["manual_seed"])
    model = SparseAutoencoder()
    opt = SPEC["optimizer"]
    optimizer = torch.optim.Adam(model.parameters(), lr=opt["lr"], betas=tuple(opt["betas"]),
                                 eps=opt["eps"], weight_decay=opt["weight_decay"])
    images = to_float(make_images(SPEC["images"]))  # (200, 1, 28, 28)

    initial = parameter_sums(model)
    losses = []
    batch = SPEC["batch_size"]
    for k in range(SPEC["steps"]):
        x = images[k * batch:(k + 1) * batch]
        optimizer.zero_grad()
        reconstruction, code = model(x)
        loss, _, _, _ = sparse_loss(reconstruction, x, code, SPEC["beta"], SPEC["rho"])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())  # the float32 value, exactly, as a Python float

    return {
        "spec": SPEC,
        "losses": losses,
        "initial": initial,
        "final": parameter_sums(model),
        "generated_by": f"scripts/golden.py, torch {torch.__version__}",
    }


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="where to write the JSON")
    out = os.path.normpath(parser.parse_args(argv).out)
    result = run()
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    os.replace(tmp, out)  # never a torn file
    print(f"wrote {out}: losses {result['losses'][0]:.6f} ... {result['losses'][-1]:.6f}")


if __name__ == "__main__":
    main(sys.argv[1:])
