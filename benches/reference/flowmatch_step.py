"""The flow-matching training step of `ferrograd flow train` in PyTorch (eager, CPU, float32),
following the conventions of ../shared/anchors (see its README): parameters and batch from one
seeded NumPy definition, `--dump DIR` writes DIR/flowmatch_step.safetensors (parameters under
ferrograd's names, the batch, and the first three losses in the metadata), timing as the anchors
(5 warm-ups, then single calls timed until 10 calls and 3 s; median and minimum).

Workload `flowmatch_step`, batch 32 clouds x 500 points of the MNIST digit 4 (the first 32 fours
of models/data/mnist, each drawn as 500 pixels sampled in proportion to intensity with sub-pixel
jitter, mapped to [-1, 1] with y up):
  * encoder (PointNet): per-point MLP 2 -> 64 -> 128 -> 64 with ReLU between layers
    (`encoder.mlp.{0,2,4}`), max over the points: code c [32, 64];
  * time embedding of t (one per cloud): [sin(t f_k), cos(t f_k)], f_k = 1000^(k/16), k < 16;
  * cond = SiLU([c, temb]) [32, 96];
  * velocity: h = input(x_t) (2 -> 128, `velocity.input`), then 3 blocks
    h <- h + linear(SiLU(LN(h) * (1 + scale) + shift)) with [shift, scale] = proj(cond)
    (`velocity.blocks.i.norm.proj`, 96 -> 256, zero-initialised; LayerNorm eps 1e-5, no affine;
    `velocity.blocks.i.linear`, 128 -> 128), out: 128 -> 2 (`velocity.out`);
  * x_t = t eps + (1 - t) x0 (data at t = 0, noise at t = 1), target eps - x0, loss MSE (mean);
  * global gradient-norm clip 1.0 (clip_grad_norm_), Adam lr 1e-3.
Linear layers other than the AdaLN projections: U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's default).

    /work/venv/bin/python benches/reference/flowmatch_step.py --threads 1 [--dump tests/data/anchors]
"""
import argparse
import gc
import gzip
import json
import math
import os
import statistics
import sys
import time
import zlib

import numpy as np

NAME = "flowmatch_step"
B, N, CODE, TEMB, WIDTH, BLOCKS = 32, 500, 64, 32, 128, 3
ENC = [2, 64, 128, CODE]
LR, CLIP, DIGIT = 1e-3, 1.0, 4
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def parse_args():
    p = argparse.ArgumentParser(description="The flow-matching step in PyTorch (float32, CPU).")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (pinned when below the cores)")
    p.add_argument("--quick", action="store_true", help="about 0.5 s of timing instead of 3 s")
    p.add_argument("--json", metavar="PATH", help="write the result to this JSON file")
    p.add_argument("--dump", metavar="DIR", help="write DIR/flowmatch_step.safetensors")
    a = p.parse_args()
    if a.threads < 1:
        p.error("--threads must be at least 1")
    cpus = sorted(os.sched_getaffinity(0))
    if a.threads < len(cpus):
        os.sched_setaffinity(0, set(cpus[:a.threads]))
    return a


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def image_cloud(img, n, g):
    """n pixels drawn with probability proportional to intensity, jittered within the pixel,
    mapped to [-1, 1] with y up."""
    w = img.astype(np.float64).ravel()
    idx = g.choice(w.size, size=n, p=w / w.sum())
    row, col = idx // 28, idx % 28
    x = (col + g.uniform(0, 1, n)) / 28 * 2 - 1
    y = 1 - (row + g.uniform(0, 1, n)) / 28 * 2
    return np.stack([x, y], axis=1)


def definition():
    """Parameters (ferrograd's names, weights (out, in)) and the batch, from one seeded generator."""
    g = np.random.default_rng(zlib.crc32(NAME.encode()))
    f32 = lambda a: np.asarray(a, dtype=np.float32)
    params = {}

    def linear(name, n_in, n_out, zero=False):
        b = 1.0 / math.sqrt(n_in)
        params[f"{name}.weight"] = np.zeros((n_out, n_in), np.float32) if zero else f32(g.uniform(-b, b, (n_out, n_in)))
        params[f"{name}.bias"] = np.zeros(n_out, np.float32) if zero else f32(g.uniform(-b, b, n_out))

    for i in range(len(ENC) - 1):
        linear(f"encoder.mlp.{2 * i}", ENC[i], ENC[i + 1])
    linear("velocity.input", 2, WIDTH)
    for i in range(BLOCKS):
        linear(f"velocity.blocks.{i}.norm.proj", CODE + TEMB, 2 * WIDTH, zero=True)
        linear(f"velocity.blocks.{i}.linear", WIDTH, WIDTH)
    linear("velocity.out", WIDTH, 2)

    data = os.path.join(ROOT, "models", "data", "mnist")
    images = read_idx(os.path.join(data, "images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data, "labels-idx1-ubyte.gz"))
    fours = images[labels == DIGIT][:B]
    x0 = f32(np.stack([image_cloud(im, N, g) for im in fours]))
    t = f32(g.uniform(0, 1, B))
    eps = f32(g.standard_normal((B, N, 2)))
    return params, {"x0": x0, "t": t, "eps": eps}


def bench(fn, quick):
    min_time, min_iters, warmup = (0.5, 5, 2) if quick else (3.0, 10, 5)
    for _ in range(warmup):
        fn()
    gc.collect()
    gc.disable()
    try:
        times, start = [], time.perf_counter()
        while len(times) < min_iters or time.perf_counter() - start < min_time:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return statistics.median(times) * 1e3, min(times) * 1e3, len(times)


def main():
    args = parse_args()
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    params, batch = definition()
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x0, t, eps = (torch.tensor(batch[k]) for k in ("x0", "t", "eps"))
    opt = torch.optim.Adam(p.values(), lr=LR)
    k = torch.arange(TEMB // 2, dtype=torch.float32)
    freqs = 1000.0 ** (k / (TEMB // 2))

    def lin(name, x):
        return F.linear(x, p[f"{name}.weight"], p[f"{name}.bias"])

    def loss_fn():
        h = x0
        for i in range(len(ENC) - 1):
            h = lin(f"encoder.mlp.{2 * i}", h)
            if i < len(ENC) - 2:
                h = F.relu(h)
        code = h.max(dim=1).values
        args_t = t[:, None] * freqs[None, :]
        cond = F.silu(torch.cat([code, torch.sin(args_t), torch.cos(args_t)], dim=-1))
        x_t = t[:, None, None] * eps + (1 - t[:, None, None]) * x0
        h = lin("velocity.input", x_t)
        for i in range(BLOCKS):
            shift, scale = lin(f"velocity.blocks.{i}.norm.proj", cond)[:, None, :].chunk(2, dim=-1)
            m = F.layer_norm(h, (WIDTH,), eps=1e-5) * (1 + scale) + shift
            h = h + lin(f"velocity.blocks.{i}.linear", F.silu(m))
        pred = lin("velocity.out", h)
        return F.mse_loss(pred, eps - x0)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(p.values(), CLIP)
        opt.step()
        return loss.item()

    losses = [step() for _ in range(3)]
    print(f"{NAME}: first losses {losses}", flush=True)
    if args.dump:
        from safetensors.numpy import save_file
        os.makedirs(args.dump, exist_ok=True)
        tensors = {f"param.{k}": v for k, v in params.items()}
        tensors.update({f"batch.{k}": v for k, v in batch.items()})
        meta = {"workload": NAME, "framework": "pytorch", "losses": json.dumps(losses)}
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
