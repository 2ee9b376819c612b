"""One training step of the World Models ConvVAE (`ferrograd world train-vae`) in PyTorch (eager,
CPU, float32), in the conventions of ../shared/anchors (see flowmatch_step.py beside this file):
parameters and batch from one seeded NumPy definition, `--dump DIR` writes
DIR/convvae_step.safetensors with the first three losses, anchor-style timing.

Workload `convvae_step`, batch 32 frames of 64x64 RGB in [0, 1] (synthetic Catch-like frames: a
dark background, one to three green discs, a white paddle at the bottom):
  * encoder: Conv2d 3->32->64->128->256, kernel 4, stride 2, ReLU (`enc.{0..3}`), flatten 1024,
    linear to mu and logvar (32 each; `mu`, `logvar`);
  * z = mu + exp(logvar / 2) * xi with the batch's xi [32, 32];
  * decoder: linear 32 -> 1024 (`dec_in`), as [B, 1024, 1, 1], ConvTranspose2d 1024->128 (k5),
    128->64 (k5), 64->32 (k6), 32->3 (k6), stride 2, ReLU between, sigmoid last (`dec.{0..3}`);
  * loss = sum of squared errors over a frame, mean over the batch, + max(KL, 0.5 * 32) with
    KL = 0.5 sum(mu^2 + exp(logvar) - 1 - logvar) over z, mean over the batch;
  * Adam lr 1e-3.
Weights and biases in (-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in*k*k for Conv2d and out*k*k
for ConvTranspose2d (PyTorch's default ranges), `in` for linear layers. The parameters (5 million
numbers, 19 MB) are not dumped: they come from a hash that ferrograd computes too
(`hashed_uniform`: SplitMix64 of the tensor's name and index, the top 24 bits as u in [0, 1),
value (2u - 1) * bound in float64, rounded to float32), so the dump holds the batch, the losses
and `params: hashed-uniform` in its metadata.

    /work/venv/bin/python benches/reference/convvae_step.py --threads 1 [--dump tests/data/anchors]
"""
import math
import os
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flowmatch_step import bench, parse_args  # noqa: E402  (same command line and timing)

NAME = "convvae_step"
B, Z, SIZE, LR = 32, 32, 64, 1e-3
ENC = [3, 32, 64, 128, 256]
DEC = [1024, 128, 64, 32, 3]
DEC_K = [5, 5, 6, 6]


def hashed_uniform(name, shape, bound):
    """Values in (-bound, bound) from SplitMix64 of (CRC-32 of `name`, index 1..n)."""
    n = int(np.prod(shape))
    m = np.uint64
    with np.errstate(over="ignore"):
        z = m(zlib.crc32(name.encode())) * m(0x100000001B3) + np.arange(1, n + 1, dtype=m) * m(0x9E3779B97F4A7C15)
        z = (z ^ (z >> m(30))) * m(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> m(27))) * m(0x94D049BB133111EB)
        z = z ^ (z >> m(31))
    u = (z >> m(40)).astype(np.float64) / float(1 << 24)
    return ((2.0 * u - 1.0) * bound).astype(np.float32).reshape(shape)


def definition():
    g = np.random.default_rng(zlib.crc32(NAME.encode()))
    f32 = lambda a: np.asarray(a, dtype=np.float32)
    params = {}

    def uniform(name, shape, fan_in, n_bias):
        b = 1.0 / math.sqrt(fan_in)
        params[f"{name}.weight"] = hashed_uniform(f"{name}.weight", shape, b)
        params[f"{name}.bias"] = hashed_uniform(f"{name}.bias", (n_bias,), b)

    for i in range(4):
        uniform(f"enc.{i}", (ENC[i + 1], ENC[i], 4, 4), ENC[i] * 16, ENC[i + 1])
    uniform("mu", (Z, 1024), 1024, Z)
    uniform("logvar", (Z, 1024), 1024, Z)
    uniform("dec_in", (1024, Z), Z, 1024)
    for i in range(4):
        k = DEC_K[i]
        uniform(f"dec.{i}", (DEC[i], DEC[i + 1], k, k), DEC[i + 1] * k * k, DEC[i + 1])

    x = np.zeros((B, 3, SIZE, SIZE), np.float32)
    x[:, 0], x[:, 1], x[:, 2] = 20 / 255, 24 / 255, 48 / 255
    rows, cols = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    for b in range(B):
        for _ in range(g.integers(1, 4)):
            cx, cy = g.uniform(3, 61), g.uniform(3, 55)
            disc = (cols - cx) ** 2 + (rows - cy) ** 2 <= 9
            x[b, 0][disc], x[b, 1][disc], x[b, 2][disc] = 90 / 255, 220 / 255, 80 / 255
        px = g.uniform(7, 57)
        pad = (np.abs(cols - px) <= 7) & (rows >= 58) & (rows < 61)
        x[b][:, pad] = 235 / 255
    xi = f32(g.standard_normal((B, Z)))
    return params, {"x": x, "xi": xi}


def main():
    args = parse_args()
    import json
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    params, batch = definition()
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x, xi = torch.tensor(batch["x"]), torch.tensor(batch["xi"])
    opt = torch.optim.Adam(p.values(), lr=LR)

    def loss_fn():
        h = x
        for i in range(4):
            h = F.relu(F.conv2d(h, p[f"enc.{i}.weight"], p[f"enc.{i}.bias"], stride=2))
        h = h.reshape(B, 1024)
        mu = F.linear(h, p["mu.weight"], p["mu.bias"])
        logvar = F.linear(h, p["logvar.weight"], p["logvar.bias"])
        z = mu + torch.exp(0.5 * logvar) * xi
        h = F.linear(z, p["dec_in.weight"], p["dec_in.bias"]).reshape(B, 1024, 1, 1)
        for i in range(4):
            h = F.conv_transpose2d(h, p[f"dec.{i}.weight"], p[f"dec.{i}.bias"], stride=2)
            h = F.relu(h) if i < 3 else torch.sigmoid(h)
        recon = ((h - x) ** 2).sum() / B
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum() / B
        return recon + torch.clamp(kl, min=0.5 * Z)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        return loss.item()

    losses = [step() for _ in range(3)]
    print(f"{NAME}: first losses {losses}", flush=True)
    if args.dump:
        from safetensors.numpy import save_file
        os.makedirs(args.dump, exist_ok=True)
        tensors = {f"batch.{k}": v for k, v in batch.items()}
        meta = {"workload": NAME, "framework": "pytorch", "losses": json.dumps(losses),
                "params": "hashed-uniform"}
        save_file(tensors, os.path.join(args.dump, f"{NAME}.safetensors"), metadata=meta)
    med, mn, iters = bench(step, args.quick)
    print(f"{NAME:20s} median {med:10.4f} ms  min {mn:10.4f} ms  n={iters}  threads={args.threads}  "
          f"torch {torch.__version__}", flush=True)
    if args.json:
        doc = {"framework": "pytorch", "version": torch.__version__, "threads": args.threads,
               "results": {NAME: {"median_ms": med, "min_ms": mn, "iters": iters, "losses": losses}}}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
