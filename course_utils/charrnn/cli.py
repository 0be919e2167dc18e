"""``course charrnn``: train and sample character-level models (mirrors char-rnn's train/sample scripts).

    course charrnn train --model {minchar,minchar-batched} --corpus {shakespeare,python,c}
                         [--iters N | --seconds S] [--hidden H] [--seq-length T] [--seed S]
                         [--batch-size B] [--dtype float32|float64] [--out DIR] [--json]
    course charrnn train --model {rnn,lstm,gru} [--layers L] [--hidden H] [--resume DIR] ...   (see .lm_cli)
    course charrnn sample DIR --prime TEXT --temperature T -n N [--top-k K] [--seed S]

Models are looked up in :data:`MODELS`; later units register theirs there.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["register", "ModelEntry", "MODELS", "main"]


@dataclass(frozen=True)
class ModelEntry:
    """How the CLI trains and samples one kind of model.

    - train(train_ids, vocab_size, args) -> (params, summary dict with at least the keys of the --json summary)
    - sample(params, prime_ids, n, temperature, top_k, rng) -> sampled ids (excluding the prime)
    - val_loss(params, val_ids) -> nats per character
    """
    train: Callable[[np.ndarray, int, argparse.Namespace], tuple[dict[str, np.ndarray], dict[str, Any]]]
    sample: Callable[..., list[int]]
    val_loss: Callable[[dict[str, np.ndarray], np.ndarray], float]


def _train_minchar(batched: bool):
    def train(ids: np.ndarray, V: int, args: argparse.Namespace):
        from .train import train_batched, train_minchar, with_hparams
        hp = with_hparams(hidden_size=args.hidden, seq_length=args.seq_length)
        if batched:
            res = train_batched(ids, V, batch_size=args.batch_size, iters=args.iters, seconds=args.seconds,
                                hparams=hp, seed=args.seed, dtype=args.dtype, progress=not args.no_progress)
        else:
            res = train_minchar(ids, V, iters=args.iters, seconds=args.seconds, hparams=hp, seed=args.seed,
                                progress=not args.no_progress)
        summary = {"iterations": res.iterations, "batch_size": res.batch_size, "chars": res.chars,
                   "seconds": round(res.seconds, 3), "chars_per_second": round(res.chars_per_second, 1),
                   "initial_smooth_loss": round(res.initial_smooth_loss, 4),
                   "final_smooth_loss": round(res.final_smooth_loss, 4),
                   "hparams": asdict(res.hparams)}
        return res.params, summary
    return train


def _sample_minchar(params, prime_ids, n, temperature, top_k, rng):
    from .minchar import prime_and_sample
    return prime_and_sample(params, prime_ids, n, rng, temperature=temperature, top_k=top_k)


def _val_minchar(params, val_ids):
    from .batched import evaluate_loss
    return evaluate_loss(params, val_ids)


MODELS: dict[str, ModelEntry] = {
    "minchar": ModelEntry(_train_minchar(batched=False), _sample_minchar, _val_minchar),
    "minchar-batched": ModelEntry(_train_minchar(batched=True), _sample_minchar, _val_minchar),
}


def _fail(cmd: str, exc: Exception) -> int:
    print(f"course charrnn {cmd}: {exc}", file=sys.stderr)
    return 2


def _cmd_train(args: argparse.Namespace) -> int:
    from ..data import CorpusNotAvailable, load_corpus
    from ..data.text import CharVocab, train_val_split
    from .checkpoint import save_checkpoint

    from .lm_cli import LM_MODELS, train_command
    if args.model in LM_MODELS or (args.model is None and args.resume is not None):
        return train_command(args)
    if args.resume is not None:
        return _fail("train", ValueError(f"--resume is for the rnn/lstm/gru models, not {args.model}"))
    args.model = args.model or "minchar"
    for name, default in (("hidden", 100), ("seq_length", 25), ("batch_size", 32), ("dtype", "float32"), ("seed", 0)):
        setattr(args, name, default if getattr(args, name) is None else getattr(args, name))
    if args.dtype not in ("float32", "float64"):
        return _fail("train", ValueError(f"--dtype {args.dtype} is for the rnn/lstm/gru models"))
    if args.iters is None and args.seconds is None:
        args.iters = 1000
    try:
        text = load_corpus(args.corpus, max_chars=args.max_chars)
        vocab = CharVocab.from_text(text)
        train_text, val_text = train_val_split(text, args.val_fraction)
        train_ids, val_ids = vocab.encode(train_text), vocab.encode(val_text)
        entry = MODELS[args.model]
        params, summary = entry.train(train_ids, len(vocab), args)
        val = entry.val_loss(params, val_ids) if len(val_ids) >= 2 else float("nan")
    except (CorpusNotAvailable, ValueError) as exc:
        return _fail("train", exc)
    out = Path(args.out or Path("runs") / "charrnn" / f"{args.corpus}-{args.model}")
    summary = {"model": args.model, "corpus": args.corpus, "vocab_size": len(vocab),
               "train_chars": len(train_ids), "val_chars": len(val_ids), **summary,
               "val_loss": round(val, 4), "seed": args.seed, "checkpoint": str(out)}
    save_checkpoint(out, params, vocab, summary)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{args.model} on {args.corpus}: {summary['iterations']} iterations, "
              f"{summary['chars_per_second']:.0f} chars/s, smooth loss {summary['initial_smooth_loss']:.2f} -> "
              f"{summary['final_smooth_loss']:.2f}, validation {val:.3f} nats/char; checkpoint in {out}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from .checkpoint import CheckpointError, load_checkpoint
    from .lm_train import is_lm_checkpoint
    if is_lm_checkpoint(args.checkpoint):
        from .lm_cli import sample_command
        return sample_command(args)
    try:
        ckpt = load_checkpoint(args.checkpoint)
        model = ckpt.config.get("model")
        if model not in MODELS:
            raise CheckpointError(f"{args.checkpoint}: unknown model {model!r}; known: {sorted(MODELS)}")
        prime = args.prime if args.prime is not None else ("\n" if "\n" in ckpt.vocab.stoi else ckpt.vocab.chars[0])
        try:
            prime_ids = ckpt.vocab.encode(prime)
        except ValueError as exc:
            raise ValueError(f"--prime: {exc}") from None
        ids = MODELS[model].sample(ckpt.params, prime_ids, args.n, args.temperature, args.top_k,
                                   np.random.default_rng(args.seed))
    except (CheckpointError, ValueError) as exc:
        return _fail("sample", exc)
    sys.stdout.write(prime + ckpt.vocab.decode(ids) + "\n")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``charrnn`` command (``train`` and ``sample``) to the ``course`` parser."""
    p = subparsers.add_parser("charrnn", help="train and sample character-level RNNs")
    sub = p.add_subparsers(dest="charrnn_cmd", required=True, metavar="ACTION")

    t = sub.add_parser("train", help="train a model on a corpus and save a checkpoint")
    from .lm_cli import LM_MODELS, add_train_arguments
    t.add_argument("--model", choices=sorted(MODELS) + list(LM_MODELS), default=None,
                   help="minchar (default), minchar-batched (NumPy), or rnn/lstm/gru (PyTorch)")
    t.add_argument("--corpus", choices=["shakespeare", "python", "c"], default="shakespeare")
    stop = t.add_mutually_exclusive_group()
    stop.add_argument("--iters", type=int, default=None, help="iterations (default 1000)")
    stop.add_argument("--seconds", type=float, default=None, help="train for this much wall time instead")
    t.add_argument("--hidden", type=int, default=None, help="hidden units (default 100; rnn/lstm/gru: 256)")
    t.add_argument("--seq-length", type=int, default=None, help="steps to unroll (default 25; rnn/lstm/gru: 64)")
    t.add_argument("--batch-size", type=int, default=None,
                   help="sequences per step for batched models (default 32, also for rnn/lstm/gru)")
    t.add_argument("--dtype", choices=["float32", "float64", "bfloat16", "auto"], default=None,
                   help="batched models (default float32); rnn/lstm/gru: default auto (bfloat16 mixed precision "
                        "where the CPU has it natively, else float32)")
    t.add_argument("--seed", type=int, default=None, help="default 0")
    t.add_argument("--max-chars", type=int, default=None, help="use only the first characters of the corpus")
    t.add_argument("--val-fraction", type=float, default=0.1, help="trailing part held out for validation")
    t.add_argument("--out", type=Path, default=None, help="checkpoint folder (default runs/charrnn/CORPUS-MODEL)")
    t.add_argument("--json", action="store_true", help="print a JSON summary")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_train_arguments(t)
    t.set_defaults(func=_cmd_train)

    s = sub.add_parser("sample", help="sample text from a checkpoint")
    s.add_argument("checkpoint", type=Path, metavar="DIR")
    s.add_argument("--prime", default=None, help="text to condition on (default: a newline)")
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("-n", type=int, default=200, help="characters to sample")
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_cmd_sample)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="charrnn")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    from ..runtime import limit_threads
    limit_threads()   # one BLAS thread by default (COURSE_BLAS_THREADS overrides), as `course` does
    return int(args.func(args) or 0)
