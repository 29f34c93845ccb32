"""The computation of benches/grid_bootstrap.rs with scipy's L-BFGS-B, for a wall-time comparison.

On the 240 Chinchilla points of docs/METHODS.md section 5 (Epoch AI's digitised data, the five
highest-loss rows dropped, D = C / (6 N)):
  1. the 4,500-start grid fit of the summed Huber loss (delta = 1e-3) of log residuals of
     LSE(a - alpha ln N, b - beta ln D, e) (T1);
  2. 4,000 bootstrap replicates, each refitted from Hoffmann et al.'s TeX values (T3).

To compare like with like, this does what the Rust code does: the objective is divided by
n * 1e-6 (so a good fit's objective is O(1)), the gradient is analytic, the stopping tolerances
match (ftol 1e-15 relative on the rescaled objective, gtol 1e-10, at most 2,000 iterations
and 50 line-search steps, history 10), and a bootstrap replicate is the original points weighted
by how often each was drawn. The resampling generator differs (numpy's MT19937, seed 42, as in
Epoch AI's notebook), so the bootstrap SDs agree only statistically.

Usage: python scipy_reference.py [--processes P]   (P worker processes; default 1)
Written for saescale (numpy 2.4.6, scipy 1.17.1); not derived from Epoch AI's code.
"""

import argparse
import itertools
import multiprocessing
import os
import time

import numpy as np
from scipy.optimize import minimize

DELTA = 1e-3
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "..", "tests", "data", "chinchilla_epoch_svg_extracted.csv")
TEX = np.array([6.0073404, 6.0179186, 0.5267228, 0.33917084, 0.2849083])
OPTIONS = dict(maxiter=2000, maxls=50, maxcor=10, ftol=1e-15, gtol=1e-10)


def load():
    raw = np.genfromtxt(DATA, delimiter=",", names=True, dtype=None, encoding="utf-8", comments=None)
    n, c, loss = raw["Model_Size"], raw["Training_FLOP"], raw["loss"]
    keep = np.sort(np.argsort(-loss, kind="stable")[5:])
    n, c, loss = n[keep], c[keep], loss[keep]
    return np.log(n), np.log(c / (6.0 * n)), np.log(loss)


def objective(theta, lnx, lny, lnl, w, scale):
    """Summed Huber of LSE residuals and its gradient, divided by scale."""
    a, b, e, alpha, beta = theta
    t1 = a - alpha * lnx
    t2 = b - beta * lny
    m = np.maximum(np.maximum(t1, t2), e)
    w1, w2, w3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
    s = w1 + w2 + w3
    r = m + np.log(s) - lnl
    ar = np.abs(r)
    h = np.where(ar <= DELTA, 0.5 * r * r, DELTA * (ar - 0.5 * DELTA))
    k = w * np.clip(r, -DELTA, DELTA) / s
    grad = np.array([
        np.dot(k, w1), np.dot(k, w2), np.dot(k, w3), -np.dot(k * w1, lnx), -np.dot(k * w2, lny),
    ])
    return np.dot(w, h) / scale, grad / scale


def fit_one(args):
    start, lnx, lny, lnl, w = args
    scale = w.sum() * 1e-6
    with np.errstate(all="ignore"):
        res = minimize(objective, start, args=(lnx, lny, lnl, w, scale), jac=True, method="L-BFGS-B", options=OPTIONS)
    return res.x, res.fun * scale, bool(res.success) and np.isfinite(res.fun)


def grid():
    return [np.array([a, b, e, al, be]) for al, be, e, a, b in itertools.product(
        np.arange(0, 2.01, 0.5), np.arange(0, 2.01, 0.5), np.arange(-1, 1.01, 0.5), np.arange(0, 26, 5), np.arange(0, 26, 5))]


def run(pool_map):
    lnx, lny, lnl = load()
    ones = np.ones_like(lnx)
    starts = grid()
    t0 = time.perf_counter()
    results = pool_map(fit_one, [(s, lnx, lny, lnl, ones) for s in starts])
    grid_s = time.perf_counter() - t0
    values = np.array([f if ok else np.inf for _, f, ok in results])
    best = values.min()
    print(f"scipy grid fit:  {grid_s:8.3f} s  ({len(starts)} starts, {np.isfinite(values).sum()} converged, "
          f"{(np.abs(values - best) <= 1e-9).sum()} within 1e-9 of the best; objective {best:.10e})")

    np.random.seed(42)
    weights = [np.bincount(np.random.choice(len(lnx), size=len(lnx), replace=True), minlength=len(lnx)).astype(float)
               for _ in range(4000)]
    jobs = []
    for w in weights:
        k = w > 0
        jobs.append((TEX, lnx[k], lny[k], lnl[k], w[k]))
    t0 = time.perf_counter()
    reps = pool_map(fit_one, jobs)
    boot_s = time.perf_counter() - t0
    theta = np.array([x for x, _, ok in reps if ok])
    A, B, E = np.exp(theta[:, 0]), np.exp(theta[:, 1]), np.exp(theta[:, 2])
    print(f"scipy bootstrap: {boot_s:8.3f} s  (4000 replicates, {4000 - len(theta)} failed; SD A {A.std(ddof=1):.2f} "
          f"B {B.std(ddof=1):.1f} E {E.std(ddof=1):.5f} alpha {theta[:, 3].std(ddof=1):.5f} beta {theta[:, 4].std(ddof=1):.5f})")
    print(f"scipy total:     {grid_s + boot_s:8.3f} s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    print(f"scipy reference: L-BFGS-B, {args.processes} process(es), options {OPTIONS}")
    if args.processes == 1:
        run(lambda f, xs: [f(x) for x in xs])
    else:
        with multiprocessing.Pool(args.processes) as pool:
            run(lambda f, xs: pool.map(f, xs, chunksize=50))


if __name__ == "__main__":
    main()
