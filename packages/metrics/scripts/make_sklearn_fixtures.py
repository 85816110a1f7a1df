#!/usr/bin/env python3
"""Generates metric test cases and scikit-learn's answers as JSON fixtures.

Run: .venv/bin/python packages/metrics/scripts/make_sklearn_fixtures.py
The cases come from a seeded NumPy generator, so re-running reproduces the same file.
"""
import json
import pathlib

import numpy as np
import scipy.linalg
import sklearn
from sklearn import metrics as m

OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "sklearn.json"


def nan_to_none(x):
    x = float(x)
    return None if np.isnan(x) else x


def binary_case(name, y, s, threshold=0.5):
    y = np.asarray(y, dtype=int)
    s = np.asarray(s, dtype=float)
    pred = (s >= threshold).astype(int)
    tn, fp, fn, tp = m.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    fpr, tpr, thr = m.roc_curve(y, s, drop_intermediate=False)
    precision, recall, _ = m.precision_recall_curve(y, s)
    return {
        "name": name,
        "labels": y.tolist(),
        "scores": s.tolist(),
        "threshold": threshold,
        "expected": {
            "accuracy": m.accuracy_score(y, pred),
            "precision": nan_to_none(m.precision_score(y, pred, zero_division=np.nan)),
            "recall": nan_to_none(m.recall_score(y, pred, zero_division=np.nan)),
            "specificity": nan_to_none(tn / (tn + fp)) if tn + fp else None,
            "f1": nan_to_none(m.f1_score(y, pred, zero_division=np.nan)),
            "balancedAccuracy": m.balanced_accuracy_score(y, pred),
            "mcc": m.matthews_corrcoef(y, pred),
            "auc": m.roc_auc_score(y, s),
            "averagePrecision": m.average_precision_score(y, s),
            "confusion": {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)},
            "rocFpr": fpr.tolist(),
            "rocTpr": tpr.tolist(),
        },
    }


def multiclass_case(name, y, p):
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    k = p.shape[1]
    pred = p.argmax(axis=1)
    prec, rec, f1, support = m.precision_recall_fscore_support(y, pred, labels=list(range(k)), zero_division=np.nan)
    return {
        "name": name,
        "labels": y.tolist(),
        "probabilities": p.ravel().tolist(),
        "k": k,
        "expected": {
            "accuracy": m.accuracy_score(y, pred),
            "confusion": m.confusion_matrix(y, pred, labels=list(range(k))).tolist(),
            "precision": [nan_to_none(x) for x in prec],
            "recall": [nan_to_none(x) for x in rec],
            "f1": [nan_to_none(x) for x in f1],
            "macroF1": m.f1_score(y, pred, average="macro", zero_division=np.nan),
            "microF1": m.f1_score(y, pred, average="micro"),
            "ovrAuc": [m.roc_auc_score((y == c).astype(int), p[:, c]) for c in range(k)],
            "macroAuc": m.roc_auc_score(y, p, multi_class="ovr", average="macro"),
        },
    }


def frechet_case(name, a, b):
    """The FID formula (Heusel et al.) with SciPy's sqrtm, as the reference implementations do."""
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
    return {"name": name, "a": a.ravel().tolist(), "countA": len(a), "b": b.ravel().tolist(), "countB": len(b), "d": a.shape[1], "expected": value}


def main():
    rng = np.random.default_rng(20261126)
    cases = []
    for i in range(6):
        n = int(rng.integers(20, 300))
        y = rng.integers(0, 2, n)
        s = np.clip(rng.normal(0.5 + 0.25 * (y - 0.5) * (i % 3), 0.25, n), 0, 1)
        cases.append(binary_case(f"random-{i}", y, s))
    y = rng.integers(0, 2, 200)
    cases.append(binary_case("tied-scores", y, np.round(rng.random(200) * 4) / 4))
    cases.append(binary_case("all-tied", y, np.full(200, 0.5)))
    y = np.zeros(500, dtype=int)
    y[:7] = 1
    cases.append(binary_case("extreme-imbalance", y, np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)))
    cases.append(binary_case("no-positive-predictions", rng.integers(0, 2, 50), rng.random(50) * 0.4))
    cases.append(binary_case("threshold-0.7", rng.integers(0, 2, 80), rng.random(80), 0.7))
    cases.append(binary_case("perfect", [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]))
    multi = []
    for i, k in enumerate([3, 4, 4]):
        n = int(rng.integers(50, 200))
        y = rng.integers(0, k, n)
        logits = rng.normal(0, 1, (n, k))
        logits[np.arange(n), y] += 1.0 + i * 0.5
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        multi.append(multiclass_case(f"multiclass-{k}-{i}", y, p))
    frechet = []
    for i, (n1, n2, d) in enumerate([(40, 50, 3), (100, 80, 8), (200, 200, 16)]):
        a = rng.normal(0, 1, (n1, d))
        b = rng.normal(0.3 * i, 1 + 0.2 * i, (n2, d)) @ rng.normal(0, 1, (d, d)) * 0.5
        frechet.append(frechet_case(f"frechet-{d}", a, b))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"sklearn": sklearn.__version__, "scipy": scipy.__version__, "binary": cases, "multiclass": multi, "frechet": frechet}, indent=1) + "\n")
    print(f"wrote {len(cases)} binary and {len(multi)} multi-class cases to {OUT}")


if __name__ == "__main__":
    main()
