#!/usr/bin/env python3
"""The research-scale jobs of `vanish bench --sections jobs` in PyTorch eager on the CPU: the peer.

    python3 examples/peers/mnist_jobs.py --dataset mnist:DIR|npz:PATH --job sweep|wide [--threads N] [--quick]

`vanish bench` runs this script itself (it is compiled into the binary) beside its own runs of the same
jobs, on the same data, wherever `python3 -c 'import torch'` works. It is also here to be read: it is
what "the same job" means.

DATA   `mnist:DIR`: MNIST's four IDX files (plain or .gz, as torchvision and the datasets' sites keep
       them); `npz:PATH`: Keras's mnist.npz (x_train, y_train, x_test, y_test). Pixels scaled to [0, 1],
       the files' own train/test split, as vanish reads them.
JOBS   sweep  784 -> [Linear(30) (-> BatchNorm1d) -> act] x depth -> Linear(10), softmax cross-entropy;
              depths 1..10 x sigmoid, tanh, relu x no norm, batch norm x seeds 0, 1: 120 runs
              (`--quick`: depths 1, 2 and one seed, as vanish's quick bench);
       wide   784 -> 256 x 4 -> 10, sigmoid, batch 128.
       Both: Glorot-uniform weights, zero biases; Adam (lr 1e-3, eps 1e-7, Keras's), batch 32 for the sweep;
       one epoch, shuffled per seed; a probe (the whole training split forward and backward in training
       mode, ||dW|| per layer, batch norm's running statistics left as they were) at initialisation and
       after the epoch; then the loss and accuracy of the training and the test split in eval mode —
       what `vanish sweep` and `vanish train` do for one epoch.
OUTPUT one line: the job, runs, steps and seconds (training, probes and evaluations, after imports and
       the data's loading, which the bench times as a whole with the process).
"""
import argparse, gzip, math, os, struct, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, kind, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08:
        sys.exit(f"{path}: not an IDX file of unsigned bytes")
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(folder, name):
    for candidate in (name, name + ".gz", name.replace("-idx", ".idx"), name.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            return path
    sys.exit(f"{folder}: no {name}")


def load(dataset):
    kind, _, path = dataset.partition(":")
    if kind == "mnist":
        parts = [read_idx(find(path, n)) for n in
                 ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
    elif kind == "npz":
        d = np.load(path)
        parts = [d["x_train"], d["y_train"], d["x_test"], d["y_test"]]
    else:
        sys.exit(f"--dataset {dataset}: expected mnist:DIR or npz:PATH")
    x = lambda a: torch.from_numpy(a.reshape(len(a), -1).astype(np.float32) / 255.0)
    y = lambda a: torch.from_numpy(a.astype(np.int64))
    return x(parts[0]), y(parts[1]), x(parts[2]), y(parts[3])


ACT = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def build(widths, act, norm, seed):
    torch.manual_seed(seed)
    layers = []
    for i in range(len(widths) - 1):
        lin = nn.Linear(widths[i], widths[i + 1])
        nn.init.xavier_uniform_(lin.weight)
        nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(widths) - 2:
            if norm == "batch":
                layers.append(nn.BatchNorm1d(widths[i + 1]))
            layers.append(ACT[act]())
    return nn.Sequential(*layers)


def probe(model, x, y):
    """||dW|| per layer over the whole split in training mode, running statistics untouched."""
    bn = [m for m in model if isinstance(m, nn.BatchNorm1d)]
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in bn]
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    for m, s in zip(bn, saved):
        m.running_mean.copy_(s[0]); m.running_var.copy_(s[1]); m.num_batches_tracked.copy_(s[2])
    return [m.weight.grad.norm().item() for m in model if isinstance(m, nn.Linear)]


def run(widths, act, norm, seed, data, batch):
    xtr, ytr, xte, yte = data
    model = build(widths, act, norm, seed)
    before = probe(model, xtr, ytr)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    order = torch.randperm(len(xtr), generator=torch.Generator().manual_seed(seed))
    losses = []
    for s in range(0, len(xtr), batch):
        rows = order[s:s + batch]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xtr[rows]), ytr[rows])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    after = probe(model, xtr, ytr)
    model.eval()
    with torch.no_grad():
        evals = [(F.cross_entropy(model(x), y).item(), (model(x).argmax(1) == y).float().mean().item())
                 for x, y in ((xtr, ytr), (xte, yte))]
    return len(losses), before, after, evals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--job", choices=["sweep", "wide"], required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = load(a.dataset)
    start = time.time()
    steps = runs = 0
    if a.job == "sweep":
        depths, seeds = ((1, 2), (0,)) if a.quick else (range(1, 11), (0, 1))
        for depth in depths:
            for act in ("sigmoid", "tanh", "relu"):
                for norm in ("none", "batch"):
                    for seed in seeds:
                        steps += run([784] + [30] * depth + [10], act, norm, seed, data, 32)[0]
                        runs += 1
    else:
        steps += run([784, 256, 256, 256, 256, 10], "sigmoid", "none", 0, data, 128)[0]
        runs = 1
    print(f"{a.job}: {runs} runs, {steps} steps in {time.time() - start:.2f} s, "
          f"torch {torch.__version__} on the CPU with {a.threads} thread(s)")


if __name__ == "__main__":
    main()
