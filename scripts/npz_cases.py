#!/usr/bin/env python3
"""Writes tests/data/npz/: deep reference cases as numpy.savez / savez_compressed
archives (W1 … WL, bK, activations by name), and malformed archives that must be
refused, for tests/npz.rs. Needs numpy only.

    python3 scripts/npz_cases.py
"""

import io
import os
import zipfile

import numpy as np

ROOT = os.path.join(os.path.dirname(__file__), "..", "tests", "data")
OUT = os.path.join(ROOT, "npz")


def case(name):
    d = os.path.join(ROOT, "deep", name)
    acts = open(os.path.join(d, "activations.txt")).read().split()
    arrays = {}
    for k in range(1, len(acts) + 1):
        arrays[f"W{k}"] = np.load(os.path.join(d, f"W{k}.npy"))
        b = os.path.join(d, f"b{k}.npy")
        if os.path.exists(b):
            arrays[f"b{k}"] = np.load(b)
    return arrays, acts


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in ("biased", "some_biases", "mixed"):
        arrays, acts = case(name)
        np.savez(os.path.join(OUT, f"{name}.npz"), activations=acts, **arrays)
        np.savez_compressed(os.path.join(OUT, f"{name}_compressed.npz"),
                            activations=np.array(acts), **arrays)
    arrays, acts = case("one_layer")
    # One activation for every layer, as a 0-d str array; float32 weights.
    np.savez(os.path.join(OUT, "one_layer_f32.npz"), activations=np.array(acts[0]),
             **{k: v.astype(np.float32) for k, v in arrays.items()})
    arrays, acts = case("mixed")
    bad = {
        "gap": dict(W1=arrays["W1"], W3=arrays["W2"], activations=acts[:2]),
        "orphan_bias": dict(W1=arrays["W1"], b2=np.zeros(3), activations=acts[:1]),
        "unknown_activation": dict(W1=arrays["W1"], activations=["swish"]),
        "unknown_entry": dict(W1=arrays["W1"], extra=np.zeros(2), activations=acts[:1]),
        "activation_count": dict(W1=arrays["W1"], W2=arrays["W2"], activations=acts[:3]),
        "no_weights": dict(activations=acts[:1]),
        "int_weights": dict(W1=np.ones((2, 3), dtype=np.int64), activations=acts[:1]),
        "shape_chain": dict(W1=arrays["W1"], W2=arrays["W1"], activations=acts[:2]),
    }
    for name, arrays in bad.items():
        np.savez(os.path.join(OUT, f"bad_{name}.npz"), **arrays)
    with open(os.path.join(OUT, "bad_not_zip.npz"), "wb") as f:
        f.write(b"\x93NUMPY not an archive")
    # W1 twice, as "W1" and "W1.npy": numpy.load would take one, a reader the other.
    with zipfile.ZipFile(os.path.join(OUT, "bad_ambiguous.npz"), "w") as z:
        for name, w in (("W1", arrays["W1"]), ("W1.npy", 2 * arrays["W1"])):
            buf = io.BytesIO()
            np.save(buf, w)
            z.writestr(name, buf.getvalue())


if __name__ == "__main__":
    main()
