"""The ``course charrnn`` command for the PyTorch models ``--model rnn|lstm|gru`` (see :mod:`.lm_train`).

    course charrnn train --model lstm --corpus c --seconds 60 [--layers 2 --hidden 256 ...] [--out DIR]
    course charrnn train --resume DIR --iters 4000          # continue exactly where DIR stopped
    course charrnn sample DIR --prime "/* " --temperature 0.8 -n 300

Options left out take the course defaults (:data:`.lm_train.COURSE_LM`, :data:`.lm_train.COURSE_TRAIN`);
with ``--resume`` they take the checkpoint's values, and an option that contradicts the checkpoint
is an error. :mod:`.cli` adds these options and hands LM runs over to :func:`train_command`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

__all__ = ["LM_MODELS", "add_train_arguments", "train_command", "sample_command"]

LM_MODELS = ("rnn", "lstm", "gru")

# option name -> (LMConfig / TrainConfig field, type, help)
_OPTIONS: dict[str, tuple[str, type, str]] = {
    "--layers": ("layers", int, "recurrent layers (default 2)"),
    "--embedding": ("embedding", int, "width of the character embedding (default 64)"),
    "--dropout": ("dropout", float, "dropout between layers and before the output (default 0)"),
    "--lr": ("lr", float, "AdamW's learning rate (default 6e-3)"),
    "--lr-decay": ("lr_decay", float, "learning-rate factor per epoch (default 0.97)"),
    "--warmup": ("warmup", int, "steps of linear learning-rate warm-up (default 0)"),
    "--warmdown": ("warmdown", float, "last fraction of --iters/--seconds over which the rate falls linearly to 0 (default 1: all of it)"),
    "--clip": ("clip", float, "clip gradients to this global norm (default 5; 0: off)"),
    "--weight-decay": ("weight_decay", float, "decoupled weight decay (AdamW) of the weight matrices (default 0.2)"),
    "--eval-every": ("eval_every", int, "held-out evaluation every N steps (default 500)"),
    "--checkpoint-every": ("checkpoint_every", int, "checkpoint every N steps (default 1000), and at the end"),
    "--sample-every": ("sample_every", int, "a text sample to TensorBoard every N steps (default 500)"),
}
# options shared with the min-char-rnn models (defaults None in cli.py): attribute -> field
_SHARED = {"hidden": "hidden", "seq_length": "seq_length", "batch_size": "batch_size", "dtype": "dtype",
           "seed": "seed"}


def add_train_arguments(t: argparse.ArgumentParser) -> None:
    """The options of ``course charrnn train`` that only the rnn/lstm/gru models use."""
    g = t.add_argument_group("rnn / lstm / gru models (PyTorch)")
    for flag, (dest, typ, text) in _OPTIONS.items():
        g.add_argument(flag, dest=dest, type=typ, default=None, help=text)
    g.add_argument("--resume", type=Path, default=None, metavar="DIR",
                   help="continue the run saved in DIR exactly (same corpus; --iters/--seconds are totals)")
    g.add_argument("--fresh", action="store_true", help="start afresh in --out, deleting an earlier run there")
    g.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="what --seconds counts: wall time or this process's CPU time")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    g.add_argument("--no-tensorboard", action="store_true", help="write no TensorBoard event files")
    g.add_argument("--threads", type=_threads_arg, default="auto", metavar="N|auto",
                   help="CPU threads for torch (default auto: one thread and all cores are timed as training "
                        "runs and the faster is kept; COURSE_TORCH_THREADS=N fixes it too)")


def _threads_arg(raw: str) -> int | str:
    if raw == "auto":
        return raw
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"give a number of threads (1, 2, ...) or 'auto', not {raw!r}")
    return n


def _fail(cmd: str, exc: Exception) -> int:
    print(f"course charrnn {cmd}: {exc}", file=sys.stderr)
    return 2


def _default_out(corpus: str, model: str) -> Path:
    try:
        from ..monitoring import runs_root
        root = runs_root()
    except ImportError:
        root = Path("runs")
    return root / "charrnn" / f"{corpus}-{model}"


def _explicit(args: argparse.Namespace) -> dict:
    given = {dest: getattr(args, dest) for dest, _, _ in _OPTIONS.values() if getattr(args, dest, None) is not None}
    given.update({f: getattr(args, a) for a, f in _SHARED.items() if getattr(args, a, None) is not None})
    return given


def _clear_run(out: Path) -> None:
    from .lm_train import CONFIG_FILE, MODEL_FILE, TRAINER_FILE, VOCAB_FILE
    for name in (MODEL_FILE, TRAINER_FILE, VOCAB_FILE, CONFIG_FILE, "projector_config.pbtxt"):
        (out / name).unlink(missing_ok=True)
    for p in out.glob("events.out.tfevents.*"):
        p.unlink()
    for p in out.iterdir():
        if p.is_dir() and p.name.isdigit():          # add_embedding's step folders
            shutil.rmtree(p)


def train_command(args: argparse.Namespace) -> int:
    """``course charrnn train`` for rnn/lstm/gru: train or resume, checkpoint, print a summary."""
    from ..data import CorpusNotAvailable, load_corpus
    from ..data.text import CharVocab, train_val_split
    from .checkpoint import CheckpointError
    from .lm_train import LMTrainer, configs_from, is_lm_checkpoint

    if args.iters is None and args.seconds is None:
        args.iters = 1000
    info = sys.stderr if args.json else sys.stdout
    try:
        text = load_corpus(args.corpus, max_chars=args.max_chars)
        vocab = CharVocab.from_text(text)
        train_text, val_text = train_val_split(text, args.val_fraction)
        train_ids, val_ids = vocab.encode(train_text), vocab.encode(val_text)
        given = _explicit(args)
        if args.resume is not None:
            out = Path(args.resume)
            if args.out is not None and Path(args.out).resolve() != out.resolve():
                raise ValueError("--resume DIR continues in DIR; leave out --out (or give the same folder)")
            cfg = _checkpoint_config(out)
            stored = {**cfg["lm"], **cfg["train"]}
            if args.model is not None and args.model != cfg["lm"]["cell"]:
                given["cell"] = args.model
            diff = [f"{k} {stored[k]!r} in the checkpoint vs {v!r}" for k, v in given.items()
                    if k in stored and stored[k] != v and not (k == "dtype" and v == "auto")]
            if diff:
                raise CheckpointError(f"{out} holds a {cfg['lm']['layers']}-layer {cfg['lm']['cell']} run; a resumed "
                                      f"run keeps its settings, and these options differ: {', '.join(diff)}")
            if cfg.get("meta", {}).get("corpus") not in (None, args.corpus):
                raise CheckpointError(f"{out} was trained on the {cfg['meta']['corpus']!r} corpus, not {args.corpus!r}; "
                                      f"add --corpus {cfg['meta']['corpus']}")
            trainer = LMTrainer.resume(out, train_ids, val_ids, vocab, tensorboard=not args.no_tensorboard,
                                       threads=getattr(args, "threads", "auto"),
                                       device=args.device)
            print(f"resuming {out} at step {trainer.progress.step} (epoch {trainer.progress.epoch})", file=info)
        else:
            model = args.model or "lstm"
            out = Path(args.out) if args.out is not None else _default_out(args.corpus, model)
            if is_lm_checkpoint(out) and not args.fresh:
                raise ValueError(f"{out} already holds a run; continue it with --resume {out}, or start again "
                                 "there with --fresh (deletes it), or choose another --out")
            if out.is_dir() and args.fresh:
                _clear_run(out)
            lm, tr = configs_from(model, len(vocab), **given)
            trainer = LMTrainer(train_ids, val_ids, vocab, lm, tr, out=out, tensorboard=not args.no_tensorboard,
                                threads=getattr(args, "threads", "auto"),
                                device=args.device, meta={"corpus": args.corpus, "max_chars": args.max_chars,
                                                          "val_fraction": args.val_fraction})
        if trainer.tensorboard:
            try:
                from ..monitoring import tensorboard_commands
                print(tensorboard_commands(out), file=info)
            except ImportError:
                print(f"TensorBoard: tensorboard --logdir {out}", file=info)
        print(f"training a {trainer.lm_config.layers}x{trainer.lm_config.hidden} {trainer.lm_config.cell} "
              f"({trainer.model.n_params:,} parameters) on {args.corpus} ({len(train_ids):,} training characters, "
              f"{len(vocab)} symbols) on {trainer.device}; checkpoints in {out}", file=info)
        with trainer:
            summary = trainer.fit(iters=args.iters, seconds=args.seconds, clock=args.clock,
                                  progress=not args.no_progress)
    except (CorpusNotAvailable, CheckpointError, ValueError, RuntimeError) as exc:
        return _fail("train", exc)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        val = summary["val_nats_per_char"]
        print(f"{summary['model']} {summary['layers']}x{summary['hidden']} on {args.corpus}: {summary['steps']} steps "
              f"({summary['epochs']} epochs), {summary['chars_per_second'] or 0:.0f} chars/s, train "
              f"{summary['train_nats_per_char']} nats/char, validation {val} nats/char; checkpoint in {out}")
    if summary["stopped"] == "interrupted":
        print(f"interrupted at step {summary['steps']}: checkpoint saved; continue with "
              f"course charrnn train --resume {out} --corpus {args.corpus}", file=sys.stderr)
    return 0


def _checkpoint_config(directory: Path) -> dict:
    from .lm_train import _read_config
    return _read_config(directory)


def sample_command(args: argparse.Namespace) -> int:
    """``course charrnn sample DIR`` for an rnn/lstm/gru checkpoint."""
    from .checkpoint import CheckpointError
    from .lm import sample_ids
    from .lm_train import load_lm
    try:
        ckpt = load_lm(args.checkpoint, device=getattr(args, "device", None))
        vocab = ckpt.vocab
        prime = args.prime if args.prime is not None else ("\n" if "\n" in vocab.stoi else vocab.chars[0])
        if not prime:
            raise ValueError("--prime: give at least one character")
        try:
            prime_ids = vocab.encode(prime)
        except ValueError as exc:
            raise ValueError(f"--prime: {exc}") from None
        ids = sample_ids(ckpt.model, prime_ids, args.n, np.random.default_rng(args.seed),
                         temperature=args.temperature, top_k=args.top_k)
    except (CheckpointError, ValueError, RuntimeError) as exc:
        return _fail("sample", exc)
    sys.stdout.write(prime + vocab.decode(ids) + "\n")
    return 0
