#!/usr/bin/env python3
"""Generates feature sets and the answers of `prdc` (Naeem et al. 2020's reference code) as JSON.

Run: .venv/bin/pip install prdc==0.2 && .venv/bin/python packages/metrics/scripts/make_prdc_fixtures.py
The features come from a seeded NumPy generator, so re-running reproduces the same file.
"""
import contextlib
import io
import json
import pathlib

import numpy as np
from prdc import compute_prdc

OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "prdc.json"


def case(name, real, fake, k=5):
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the counts
        r = compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
    return {
        "name": name, "k": k, "dim": int(real.shape[1]),
        "real": [round(float(v), 6) for v in real.ravel()], "fake": [round(float(v), 6) for v in fake.ravel()],
        "nReal": int(real.shape[0]), "nFake": int(fake.shape[0]),
        "expected": {key: float(value) for key, value in r.items()},
    }


def main():
    rng = np.random.default_rng(2020)
    cases = []
    real = rng.normal(size=(200, 16)).astype(np.float32)
    # Rounded to 6 digits as stored, so both sides compute on the same numbers.
    rounded = lambda a: np.round(a.astype(np.float64), 6)
    cases.append(case("same distribution", rounded(real), rounded(rng.normal(size=(180, 16)))))
    cases.append(case("shifted (unrealistic)", rounded(real), rounded(rng.normal(size=(180, 16)) + 1.5)))
    cases.append(case("collapsed (not diverse)", rounded(real), rounded(rng.normal(size=(180, 16)) * 0.25)))
    cases.append(case("k = 3, different sizes", rounded(real[:120]), rounded(rng.normal(size=(60, 16)) * 1.2), k=3))
    OUT.write_text(json.dumps({"prdc": "0.2", "cases": cases}) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
