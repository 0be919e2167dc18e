"""Character-level LSTM/GRU language models on tinyshakespeare: validation nats/char against training time.

Trains, one after the other in this process, the course's default configuration (the defaults of
``course charrnn train --model lstm``) and the baseline of issue 12 -- a plain ``nn.LSTM`` 2x256 with a
64-wide embedding, batch 32, sequence 100, state carried between windows, Adam 2e-3, clipping 5,
no learning-rate decay, no weight decay -- each for the same training time, on the same split (the last
10% held out).
Prints the held-out nats/char at regular times, chars/s, and the gap between the two.

    .venv/bin/python benchmarks/bench_char_lm.py                    # 120 s each, wall clock
    .venv/bin/python benchmarks/bench_char_lm.py --clock cpu        # 120 s of CPU time each (fair on a busy machine)
    .venv/bin/python benchmarks/bench_char_lm.py --seconds 30 --variant gru:cell=gru --json
    .venv/bin/python benchmarks/bench_char_lm.py --iters 2030 --only wd0 --variant wd0:weight_decay=0,threads=1

``--clock cpu`` counts this process's CPU time instead of wall time (use it with ``threads=1``: it is then
what an idle core would give, whatever else runs on the machine). Evaluation time is never counted.
Threads: the course configuration uses the trainer's default (``auto``: one thread and all cores timed as
it trains, the faster kept); the baseline uses torch's own default, all cores, as a plain script would.
``--iters N`` trains each configuration for N steps instead: the machine's speed then changes only the time
taken, not the result (for comparing settings that do not change the speed per character; with ``threads=1``
two such runs fit side by side on two cores). ``--variant NAME:key=value,...`` adds configurations (keys of
LMConfig / TrainConfig, ``threads=N|auto``, ``base=baseline`` to start from the baseline) for exploration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, fields, replace

import torch

from course_utils.charrnn.lm import LMConfig
from course_utils.charrnn.lm_train import COURSE_LM, COURSE_TRAIN, LMTrainer, TrainConfig
from course_utils.data import load_corpus
from course_utils.data.text import CharVocab, train_val_split
from course_utils.runtime import get_device, limit_threads

BASELINE_LM = dict(cell="lstm", hidden=256, layers=2, embedding=64, dropout=0.0)
BASELINE_TRAIN = TrainConfig(batch_size=32, seq_length=100, lr=2e-3, lr_decay=1.0, warmup=0, warmdown=0.0, clip=5.0,
                             weight_decay=0.0, dtype="float32")
BASELINE_THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _parse_value(raw: str):
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return None if raw == "None" else raw


def parse_variant(spec: str) -> tuple[str, dict, TrainConfig, int | str]:
    """``name:key=value,...`` on top of the course configuration."""
    name, _, body = spec.partition(":")
    lm, tr, threads = dict(COURSE_LM), {}, "auto"
    lm_keys, tr_keys = {f.name for f in fields(LMConfig)}, {f.name for f in fields(TrainConfig)}
    for item in filter(None, body.split(",")):
        key, _, raw = item.partition("=")
        if key == "base":                      # base=baseline starts from the baseline instead
            lm, tr, threads = dict(BASELINE_LM), asdict(BASELINE_TRAIN), BASELINE_THREADS
            continue
        if key == "threads":
            threads = raw if raw == "auto" else int(raw)
            continue
        if key in lm_keys:
            lm[key] = _parse_value(raw)
        elif key in tr_keys:
            tr[key] = _parse_value(raw)
        else:
            raise SystemExit(f"--variant {spec!r}: unknown key {key!r}")
    return name, lm, replace(COURSE_TRAIN, **tr), threads


def _threads(r: dict) -> str:
    """``2`` for a fixed count; ``auto:2`` (the count chosen last) when the tuner chose."""
    return f"auto:{r['threads']}" if r.get("tuned") else str(r["threads"])


def _f(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def run_one(name: str, lm: dict, train: TrainConfig, threads: int | str, data, seconds: float | None, clock: str,
            curve_every: float, curve_chars: int, device, progress: bool, iters: int | None = None) -> dict:
    train_ids, val_ids, vocab = data
    train = replace(train, eval_every=0, sample_every=0, histogram_every=0, checkpoint_every=0, log_every=10)
    trainer = LMTrainer(train_ids, val_ids, vocab, LMConfig(vocab_size=len(vocab), **lm), train,
                        out=None, tensorboard=False, device=device, threads=threads)
    curve: list[tuple[float, int, float]] = []
    next_t = [curve_every]

    def on_log(step, metrics):
        if trainer.progress.seconds >= next_t[0]:
            curve.append((round(trainer.progress.seconds, 1), step, round(trainer.evaluate(curve_chars), 4)))
            next_t[0] += curve_every

    wall = time.perf_counter()
    summary = trainer.fit(seconds=None if iters else seconds, iters=iters, clock=clock, progress=progress,
                          callback=on_log)
    summary["wall_seconds"] = round(time.perf_counter() - wall, 1)
    curve.append((round(trainer.progress.seconds, 1), trainer.progress.step, summary["val_nats_per_char"]))
    return {"name": name, "settings": {"lm": {**lm}, "train": asdict(train)}, "curve": curve, **summary}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0, help="training time per configuration (default 120)")
    ap.add_argument("--iters", type=int, default=None, help="train each configuration for this many steps instead")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    ap.add_argument("--curve-every", type=float, default=15.0, help="seconds between points of the curve")
    ap.add_argument("--curve-chars", type=int, default=30_000,
                    help="held-out characters for the intermediate points (the final point uses all)")
    ap.add_argument("--variant", action="append", default=[], help="NAME:key=value,... (repeatable)")
    ap.add_argument("--only", default=None, help="comma-separated names to run (course, baseline, variants)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    threads = limit_threads()
    text = load_corpus("shakespeare")
    vocab = CharVocab.from_text(text)
    tr, va = train_val_split(text, 0.1)
    data = (vocab.encode(tr), vocab.encode(va), vocab)
    device = get_device(args.device)
    runs = [("course", dict(COURSE_LM), COURSE_TRAIN, "auto"),
            ("baseline", dict(BASELINE_LM), BASELINE_TRAIN, BASELINE_THREADS)]
    runs += [parse_variant(v) for v in args.variant]
    if args.only:
        keep = set(args.only.split(","))
        runs = [r for r in runs if r[0] in keep]
    results = []
    for name, lm, train, n_threads in runs:
        if not args.json:
            print(f"# {name}: {lm} {train} threads={n_threads}", file=sys.stderr, flush=True)
        results.append(run_one(name, lm, train, n_threads, data, args.seconds, args.clock, args.curve_every,
                               args.curve_chars, device, args.progress, args.iters))
        if not args.json:
            r = results[-1]
            print(f"# {name}: val {r['val_nats_per_char']} after {r['seconds']} s ({r['steps']} steps, "
                  f"{r['chars_per_second']:.0f} chars/s, wall {r['wall_seconds']} s, threads {r['threads']} "
                  f"{r.get('steps_per_thread_count', '')}); curve {r['curve']}",
                  file=sys.stderr, flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    by = {r["name"]: r for r in results}
    out = {"seconds": None if args.iters else args.seconds, "iters": args.iters, "clock": args.clock,
           "device": str(device), "threads": threads,
           "load_average_1min": round(load, 2) if load is not None else None,
           "train_chars": len(data[0]), "val_chars": len(data[1]), "configurations": results}
    if "course" in by and "baseline" in by:
        c, b = by["course"], by["baseline"]
        out["chars_per_second_ratio"] = round(c["chars_per_second"] / b["chars_per_second"], 3)
        out["val_gap_nats_per_char"] = round(b["val_nats_per_char"] - c["val_nats_per_char"], 4)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    budget = f"{args.iters} steps" if args.iters else f"{args.seconds:g} s ({args.clock} clock)"
    print(f"char LM on tinyshakespeare (last 10% held out), {budget} of training each, "
          f"device {device}, load average {out['load_average_1min']}")
    print(f"{'configuration':<12} {'model':<18} {'B x T':>8} {'lr':>7} {'params':>8} {'chars/s':>9} "
          f"{'steps':>6} {'threads':>7} {'train':>6} {'val':>6}")
    for r in results:
        model = f"{r['model']} {r['layers']}x{r['hidden']} e{r['embedding']}" + (f" d{r['dropout']}" if r['dropout'] else "")
        print(f"{r['name']:<12} {model:<18} {r['batch_size']:>3} x {r['seq_length']:<3} {r['lr']:>7.4f} "
              f"{r['parameters']:>8d} {r['chars_per_second']:>9.0f} {r['steps']:>6d} {_threads(r):>7} "
              f"{_f(r['train_nats_per_char']):>6} {_f(r['val_nats_per_char']):>6}")
    print("validation nats/char against training seconds (intermediate points on the first "
          f"{args.curve_chars} held-out characters, the last on all {len(data[1])}):")
    for r in results:
        print(f"  {r['name']:<12} " + "  ".join(f"{t:g}s {v:.3f}" for t, _, v in r["curve"]))
    if "chars_per_second_ratio" in out:
        print(f"course / baseline: {out['chars_per_second_ratio']:.2f}x the chars/s, "
              f"{out['val_gap_nats_per_char']:+.3f} nats/char lower validation loss")
    return 0


if __name__ == "__main__":
    sys.exit(main())
