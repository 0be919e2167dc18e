"""min-char-rnn figures, measured side by side in one run.

    .venv/bin/python benchmarks/bench_charrnn.py [--fidelity-iters 10000] [--seconds 30] [--batch-size 32]
                                                 [--blas-threads N]

1. Correctness: faithful vs batched (B=1) loss and gradients for the same parameters (float64),
   and the gradient check of the faithful loss with clipping off.
2. Fidelity: the faithful port on tinyshakespeare starts at smooth loss 25 ln 65 = 104.36 and
   reaches about 51-55 after 10k iterations (the original program's behaviour).
3. Speed: characters per second of both versions at H=100, T=25, and validation loss (nats/char)
   after the same wall time.

Timings need a quiet machine: with other processes competing for the 2 cores, multithreaded BLAS
calls (which the batched version relies on) slow down far more than the interpreter-bound faithful
loop. By default BLAS is pinned to one thread for both versions (``--blas-threads 1``), which is
robust to such load and, for these small matrices, about as fast; ``--blas-threads 0`` keeps BLAS's default.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time


def _preparse_threads(argv: list[str]) -> None:
    """BLAS reads its thread count when NumPy is first imported: set it before that (0: BLAS default)."""
    n = argv[argv.index("--blas-threads") + 1] if "--blas-threads" in argv else "1"
    if n != "0":
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = n


_preparse_threads(sys.argv)

import numpy as np  # noqa: E402

from course_utils.charrnn.batched import cast_params, evaluate_loss, loss_fun_batched  # noqa: E402
from course_utils.charrnn.gradcheck import check_gradients, rel_error  # noqa: E402
from course_utils.charrnn.minchar import init_params, loss_fun  # noqa: E402
from course_utils.charrnn.train import train_batched, train_minchar  # noqa: E402
from course_utils.data import CharVocab, load_corpus, train_val_split  # noqa: E402


def correctness(ids: np.ndarray, V: int) -> dict:
    rng = np.random.default_rng(1)
    params = init_params(V, 100, rng, scale=0.1)
    x = ids[1000:1026]
    h0 = rng.standard_normal((100, 1)) * 0.5
    l1, g1, h1 = loss_fun(x[:-1], x[1:], h0, params, clip=None)
    l2, g2, h2 = loss_fun_batched(x[None, :-1], x[None, 1:], h0.T.copy(), cast_params(params, "float64"), clip=None)
    out = {"loss_rel_error": rel_error(l1, l2),
           "grad_rel_error": max(rel_error(g1[k], g2[k]) for k in g1),
           "h_rel_error": rel_error(h1.T, h2)}
    small = init_params(V, 16, rng, scale=0.3)
    xs = ids[:11]
    hs = rng.standard_normal((16, 1)) * 0.3
    _, g, _ = loss_fun(xs[:-1], xs[1:], hs, small, clip=None)
    errs = check_gradients(lambda: loss_fun(xs[:-1], xs[1:], hs, small, clip=None)[0], small, g)
    out["gradcheck_max_rel_error"] = max(errs.values())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fidelity-iters", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=30.0, help="wall time of each speed run")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--blas-threads", type=int, default=1, help="BLAS threads for both versions (0: BLAS default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    text = load_corpus("shakespeare")
    vocab = CharVocab.from_text(text)
    train_text, val_text = train_val_split(text, 0.1)
    train_ids, val_ids = vocab.encode(train_text), vocab.encode(val_text)
    V = len(vocab)
    print(f"tinyshakespeare: {len(text):,} chars, V={V}; python {platform.python_version()}, "
          f"numpy {np.__version__}, {os.cpu_count()} CPUs, BLAS threads {args.blas_threads or 'default'}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)

    res: dict = {"correctness": correctness(train_ids, V)}
    c = res["correctness"]
    print(f"[correctness] faithful vs batched B=1 (float64): loss {c['loss_rel_error']:.1e}, "
          f"grads {c['grad_rel_error']:.1e}, h {c['h_rel_error']:.1e} (need < 1e-10); "
          f"gradient check {c['gradcheck_max_rel_error']:.1e} (need < 1e-6)", flush=True)

    fid = train_minchar(train_ids, V, iters=args.fidelity_iters, seed=0, progress=False)
    at = {n: round(float(fid.smooth_losses[n - 1]), 2) for n in (1, 1000, 2000, 5000, 10_000) if n <= fid.iterations}
    res["fidelity"] = {"initial_smooth_loss": round(fid.initial_smooth_loss, 2), "smooth_loss_at": at,
                       "iterations": fid.iterations, "seconds": round(fid.seconds, 1)}
    print(f"[fidelity] faithful port: smooth loss starts at {fid.initial_smooth_loss:.2f}, "
          + ", ".join(f"{v:.2f} at {k}" for k, v in at.items())
          + f" ({fid.iterations} iterations in {fid.seconds:.1f} s)", flush=True)

    speed = {}
    for name, run in [("faithful", lambda: train_minchar(train_ids, V, seconds=args.seconds, seed=0, progress=False)),
                      ("batched", lambda: train_batched(train_ids, V, batch_size=args.batch_size, dtype=args.dtype,
                                                        seconds=args.seconds, seed=0, progress=False))]:
        r = run()
        t = time.perf_counter()
        val = evaluate_loss(r.params, val_ids)
        speed[name] = {"chars_per_second": round(r.chars_per_second), "iterations": r.iterations,
                       "chars": r.chars, "seconds": round(r.seconds, 1), "val_loss": round(val, 4),
                       "final_smooth_loss": round(r.final_smooth_loss, 2),
                       "eval_seconds": round(time.perf_counter() - t, 2)}
        print(f"[speed] {name:8s}: {r.chars_per_second:>9,.0f} chars/s, {r.iterations} iterations in "
              f"{r.seconds:.1f} s, validation loss {val:.3f} nats/char", flush=True)
    ratio = speed["batched"]["chars_per_second"] / speed["faithful"]["chars_per_second"]
    speed["ratio"] = round(ratio, 1)
    speed["settings"] = {"batch_size": args.batch_size, "dtype": args.dtype, "seconds": args.seconds,
                         "hidden": 100, "seq_length": 25, "blas_threads": args.blas_threads,
                         "load_average_after": round(os.getloadavg()[0], 1)}
    res["speed"] = speed
    print(f"[speed] batched/faithful = {ratio:.1f}x chars/s (need >= 10x); validation "
          f"{speed['batched']['val_loss']:.3f} vs {speed['faithful']['val_loss']:.3f} nats/char after "
          f"{args.seconds:g} s each", flush=True)

    ok = (c["loss_rel_error"] < 1e-10 and c["grad_rel_error"] < 1e-10 and c["gradcheck_max_rel_error"] < 1e-6
          and abs(fid.initial_smooth_loss - 104.36) < 0.01
          and (args.fidelity_iters != 10_000 or 51 <= at[10_000] <= 55)
          and ratio >= 10 and speed["batched"]["val_loss"] < speed["faithful"]["val_loss"])
    res["all_hold"] = ok
    print(f"all figures hold: {ok}")
    if args.json:
        print(json.dumps(res, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
