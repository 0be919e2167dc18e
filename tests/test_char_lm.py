"""Unit 8's char-rnn practice: CharLM, its trainer, exact resume, safe checkpoints, TensorBoard, the CLI."""

from __future__ import annotations

import json
import math
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils.charrnn.checkpoint import CheckpointError
from course_utils.charrnn.lm import (CharLM, LMConfig, evaluate, sample_ids, vocab_by_frequency,
                                     weighted_pick)
from course_utils.charrnn.lm_train import LMTrainer, TrainConfig, char_label, is_lm_checkpoint, load_lm
from course_utils.cli import main
from course_utils.data import CharVocab, load_corpus
from course_utils.data.corpora import CorpusNotAvailable
from course_utils.data.text import train_val_split

ROOT = Path(__file__).resolve().parents[1]
TEXT = ("the cat sat on the mat.\nthe dog sat on the log.\n" * 60
        + "a bird sang in the tree; the fish swam in the sea.\n" * 40)


@pytest.fixture(scope="module")
def data():
    vocab = CharVocab.from_text(TEXT)
    tr, va = train_val_split(TEXT, 0.1)
    return vocab.encode(tr), vocab.encode(va), vocab


def tiny(vocab, cell="lstm", dropout=0.2) -> LMConfig:
    return LMConfig(len(vocab), cell=cell, hidden=24, layers=2, embedding=8, dropout=dropout)


TC = TrainConfig(batch_size=8, seq_length=16, lr=1e-2, eval_every=10, eval_chars=None, log_every=5,
                 histogram_every=10, sample_every=10, sample_length=40, checkpoint_every=7, warmdown=0.3)


# ---------------------------------------------------------------- the model

@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_forward_shapes_and_carried_state(cell):
    torch.manual_seed(0)
    m = CharLM(LMConfig(11, cell=cell, hidden=7, layers=3, embedding=5))
    x = torch.randint(0, 11, (2, 6))
    logits, state = m(x)
    assert logits.shape == (2, 6, 11)
    hs = state if cell != "lstm" else state[0]
    assert hs.shape == (3, 2, 7) and (cell != "lstm" or state[1].shape == (3, 2, 7))
    # running the two halves with the state carried gives the same logits as one pass
    a, s = m(x[:, :3])
    b, _ = m(x[:, 3:], s)
    torch.testing.assert_close(torch.cat([a, b], 1), logits)
    zero = m.init_state(2)
    torch.testing.assert_close(m(x, zero)[0], logits)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="cell must be one of"):
        LMConfig(5, cell="transformer")
    with pytest.raises(ValueError, match="dropout"):
        LMConfig(5, dropout=1.0)
    m = CharLM(LMConfig(5, hidden=4, layers=1, embedding=3))
    with pytest.raises(ValueError, match="int64"):
        m(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="at least one priming"):
        sample_ids(m, [], 5, np.random.default_rng(0))


def test_evaluate_of_a_uniform_model_is_log_v():
    m = CharLM(LMConfig(13, hidden=6, layers=2, embedding=4))
    with torch.no_grad():
        m.head.weight.zero_()
        m.head.bias.zero_()
    ids = np.random.default_rng(0).integers(0, 13, 1000)
    assert evaluate(m, ids, streams=7, chunk=30) == pytest.approx(math.log(13), abs=1e-6)


def test_vocab_by_frequency_puts_the_commonest_first():
    assert vocab_by_frequency("abracadabra") == ["a", "b", "r", "c", "d"]
    assert vocab_by_frequency("hello world")[:2] == ["l", "o"]
    with pytest.raises(ValueError):
        vocab_by_frequency("")


def test_weighted_pick_uses_the_cumulative_sum():
    w = np.array([1.0, 0.0, 3.0, 4.0])                  # cumsum 1, 1, 4, 8 -> slices of [0, 8)
    assert [weighted_pick(w, u) for u in (0.0, 0.12, 0.125, 0.49, 0.5, 0.999)] == [0, 0, 2, 2, 3, 3]
    rng = np.random.default_rng(0)
    picks = np.bincount([weighted_pick(w, rng.random()) for _ in range(8000)], minlength=4) / 8000
    np.testing.assert_allclose(picks, w / w.sum(), atol=0.02)
    for bad in ([0.0, 0.0], [-1.0, 2.0], [np.nan, 1.0]):
        with pytest.raises(ValueError):
            weighted_pick(np.array(bad), 0.5)
    with pytest.raises(ValueError, match="u must be"):
        weighted_pick(w, 1.0)


def test_sampling_is_reproducible_and_low_temperature_is_greedy(data):
    *_, vocab = data
    torch.manual_seed(1)
    m = CharLM(tiny(vocab))
    prime = vocab.encode("the ")
    a = sample_ids(m, prime, 30, np.random.default_rng(5), temperature=0.9)
    assert a == sample_ids(m, prime, 30, np.random.default_rng(5), temperature=0.9) and len(a) == 30
    greedy = sample_ids(m, prime, 10, np.random.default_rng(0), temperature=1e-4)
    state, ids, out = None, list(prime), []
    with torch.no_grad():
        m.eval()
        logits, state = m(torch.tensor([ids]))
        for _ in range(10):
            out.append(int(logits[0, -1].argmax()))
            logits, state = m(torch.tensor([[out[-1]]]), state)
    assert greedy == out


def test_char_labels_are_single_line():
    assert [char_label(c) for c in "\n \ta"] == ["\\n", "\u2423", "\\t", "a"]


# ---------------------------------------------------------------- training, schedule

def test_training_learns_and_the_schedule_decays(data, tmp_path):
    train_ids, val_ids, vocab = data
    tc = TrainConfig(batch_size=8, seq_length=20, lr=2e-2, lr_decay=0.7, warmdown=0.0, eval_every=0, log_every=10,
                     checkpoint_every=0, sample_every=0, histogram_every=0)
    t = LMTrainer(train_ids, val_ids, vocab, tiny(vocab, dropout=0.0), tc, tensorboard=False)
    before = t.evaluate()
    s = t.fit(iters=150, progress=False)
    assert before > 2.5 and s["val_nats_per_char"] < 1.2 < before     # the text is very repetitive
    assert t.progress.epoch >= 2 and s["steps"] == 150
    assert t.learning_rate(0, 100, 0.0) == pytest.approx(2e-2)
    assert t.learning_rate(3, 100, 0.0) == pytest.approx(2e-2 * 0.7 ** 3)
    lrs = dict(t.history.lr)
    assert lrs[150] == pytest.approx(2e-2 * 0.7 ** t.progress.epoch)
    wd = LMTrainer(train_ids, val_ids, vocab, tiny(vocab), TrainConfig(batch_size=4, seq_length=16, warmdown=0.5,
                                                                       lr_decay=1.0, warmup=4), tensorboard=False)
    assert wd.learning_rate(0, 0, 0.0) == pytest.approx(wd.config.lr / 4)
    assert wd.learning_rate(0, 10, 0.5) == pytest.approx(wd.config.lr)
    assert wd.learning_rate(0, 10, 0.75) == pytest.approx(wd.config.lr / 2)
    assert wd.learning_rate(0, 10, 1.0) == 0.0

def test_weight_decay_is_decoupled_and_spares_biases_and_the_embedding(data):
    from course_utils.charrnn.lm_train import make_optimizer
    *_, vocab = data
    model = CharLM(tiny(vocab))
    opt = make_optimizer(model, TrainConfig(lr=0.1, weight_decay=0.5))
    decayed = {id(p) for p in opt.param_groups[0]["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in decayed}
    assert names == {n for n, p in model.named_parameters() if n.startswith(("rnn.weight", "head.weight"))}
    assert [g["weight_decay"] for g in opt.param_groups] == [0.5, 0.0]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():            # a zero gradient: Adam's step is 0, only the decay moves weights
        p.grad = torch.zeros_like(p)
    opt.step()
    for n, p in model.named_parameters():
        factor = 1 - 0.1 * 0.5 if n in names else 1.0
        torch.testing.assert_close(p.detach(), before[n] * factor, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="weight_decay"):
        TrainConfig(weight_decay=-1.0)



def test_auto_dtype_is_resolved_and_stored(data, tmp_path):
    from course_utils.charrnn.lm_train import resolve_dtype
    train_ids, val_ids, vocab = data
    t = LMTrainer(train_ids, val_ids, vocab, tiny(vocab), replace(TC, dtype="auto"), out=tmp_path / "a")
    assert t.config.dtype in ("bfloat16", "float32") and t.config.dtype == resolve_dtype("auto", torch.device("cpu"))
    assert resolve_dtype("float64", torch.device("cpu")) == "float64"
    assert resolve_dtype("auto", torch.device("meta")) == "float32"
    with pytest.raises(ValueError, match="dtype must be"):
        TrainConfig(dtype="float16")


def test_too_short_text_gives_a_clear_error(data):
    *_, vocab = data
    with pytest.raises(ValueError, match="too short"):
        LMTrainer(vocab.encode("the cat"), vocab.encode("the"), vocab, tiny(vocab), TC, tensorboard=False)


# ---------------------------------------------------------------- exact resume, safe checkpoints

def _params(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


@pytest.mark.parametrize("cell,dtype", [("lstm", "float32"), ("gru", "float32"), ("lstm", "bfloat16")])
def test_interrupted_and_resumed_equals_uninterrupted(data, tmp_path, cell, dtype):
    train_ids, val_ids, vocab = data
    tc = replace(TC, dtype=dtype)
    full = LMTrainer(train_ids, val_ids, vocab, tiny(vocab, cell), tc, out=tmp_path / "full")
    with full:
        full.fit(iters=45, progress=False)          # crosses an epoch boundary: state reset, lr decay
    assert full.progress.epoch >= 1

    part = LMTrainer(train_ids, val_ids, vocab, tiny(vocab, cell), tc, out=tmp_path / "part")

    def ctrl_c(step, metrics):                     # Ctrl-C at step 20: finish the step, save, stop
        if step == 20:
            signal.raise_signal(signal.SIGINT)
    with part:
        s = part.fit(iters=45, progress=False, callback=ctrl_c)
    assert s["stopped"] == "interrupted" and part.progress.step == 20
    del part
    resumed = LMTrainer.resume(tmp_path / "part", train_ids, val_ids, vocab)
    assert resumed.progress.step == 20
    with resumed:
        resumed.fit(iters=45, progress=False)
    a, b = _params(full), _params(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resuming"
    sa, sb = full.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)
    assert [v for _, _, v in full.history.train] == [v for _, _, v in resumed.history.train]
    assert full.sample(50, temperature=0.7) == resumed.sample(50, temperature=0.7)


def test_checkpoint_files_are_safe_and_restore_for_inference(data, tmp_path):
    train_ids, val_ids, vocab = data
    t = LMTrainer(train_ids, val_ids, vocab, tiny(vocab), TC, out=tmp_path / "run")
    with t:
        t.fit(iters=12, progress=False)
    assert is_lm_checkpoint(tmp_path / "run") and not is_lm_checkpoint(tmp_path)
    for name in ("model.pt", "trainer.pt"):     # plain tensors and containers: the safe loader accepts them
        torch.load(tmp_path / "run" / name, weights_only=True)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["lm"]["hidden"] == 24 and cfg["progress"]["step"] == 12 and cfg["train"]["lr_decay"] == 0.97
    ck = load_lm(tmp_path / "run")
    assert ck.vocab == vocab and not ck.model.training
    for k, v in t.model.state_dict().items():
        assert torch.equal(ck.model.state_dict()[k], v)


def test_checkpoint_of_another_vocabulary_or_model_is_refused(data, tmp_path):
    train_ids, val_ids, vocab = data
    t = LMTrainer(train_ids, val_ids, vocab, tiny(vocab), TC, out=tmp_path / "run")
    with t:
        t.fit(iters=7, progress=False)
    other = CharVocab.from_text(TEXT + "XYZ")
    with pytest.raises(CheckpointError, match="different vocabulary.*unknown to the checkpoint: 'XYZ'"):
        load_lm(tmp_path / "run", vocab=other)
    bigger = LMConfig(len(vocab), cell="lstm", hidden=32, layers=2, embedding=8, dropout=0.2)
    with pytest.raises(CheckpointError, match="hidden 24 in the checkpoint vs 32"):
        LMTrainer.resume(tmp_path / "run", train_ids, val_ids, vocab, model=bigger)
    with pytest.raises(CheckpointError, match="other text"):
        LMTrainer.resume(tmp_path / "run", train_ids[:-50], val_ids, vocab)
    with pytest.raises(CheckpointError, match="training settings.*lr"):
        LMTrainer.resume(tmp_path / "run", train_ids, val_ids, vocab, train=TrainConfig(batch_size=4, seq_length=16))
    # a checkpoint of the earlier trainer: plain Adam, one parameter group
    ts = torch.load(tmp_path / "run" / "trainer.pt", weights_only=True)
    ts["optimizer"] = torch.optim.Adam(t.model.parameters()).state_dict()
    torch.save(ts, tmp_path / "run" / "trainer.pt")
    with pytest.raises(CheckpointError, match="1 parameter group.*earlier version.*course charrnn sample"):
        LMTrainer.resume(tmp_path / "run", train_ids, val_ids, vocab)
    load_lm(tmp_path / "run")                    # still readable for sampling
    # weights of another architecture under this config.json
    torch.save(CharLM(LMConfig(len(vocab), cell="gru", hidden=24, layers=2, embedding=8)).state_dict(),
               tmp_path / "run" / "model.pt")
    with pytest.raises(CheckpointError, match="do not fit a 2-layer LSTM"):
        load_lm(tmp_path / "run")
    with pytest.raises(CheckpointError, match="missing"):
        load_lm(tmp_path)


def test_a_pickled_object_in_a_checkpoint_is_not_executed(data, tmp_path):
    train_ids, val_ids, vocab = data
    t = LMTrainer(train_ids, val_ids, vocab, tiny(vocab), TC, out=tmp_path / "run")
    with t:
        t.fit(iters=7, progress=False)
    torch.save({"optimizer": Path("/etc/passwd"), "torch_rng": None, "state": None}, tmp_path / "run" / "trainer.pt")
    with pytest.raises(CheckpointError, match="cannot restore the training state"):
        LMTrainer.resume(tmp_path / "run", train_ids, val_ids, vocab)


# ---------------------------------------------------------------- TensorBoard

def test_tensorboard_files_hold_scalars_histograms_text_and_the_embedding(data, tmp_path):
    from google.protobuf import text_format
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    from course_utils.monitoring import read_scalars, read_tags

    train_ids, val_ids, vocab = data
    run = tmp_path / "tb"
    with LMTrainer(train_ids, val_ids, vocab, tiny(vocab), TC, out=run) as t:
        t.fit(iters=20, progress=False)
    tags = read_tags(run)
    assert {"train/loss", "val/nats_per_char", "lr", "grad_norm"} <= set(tags["scalars"])
    assert "weights/rnn.weight_hh_l0" in tags["histograms"] and "grads/embed.weight" in tags["histograms"]
    assert {"samples/text_summary", "config/text_summary"} <= set(tags["text"])
    scalars = read_scalars(run)
    assert list(scalars["train/loss"][0]) == [5, 10, 15, 20] and list(scalars["val/nats_per_char"][0]) == [10, 20]
    acc = EventAccumulator(str(run), size_guidance={"tensors": 0})
    acc.Reload()
    sample = acc.Tensors("samples/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert sample.strip() and sample.strip()[0] in vocab.stoi        # a sample of the corpus's characters
    cfg = ProjectorConfig()
    text_format.Parse((run / "projector_config.pbtxt").read_text(), cfg)
    (emb,) = cfg.embeddings
    assert emb.tensor_name.startswith("char_embedding")
    vectors = np.loadtxt(run / emb.tensor_path, delimiter="\t")
    labels = (run / emb.metadata_path).read_text(encoding="utf-8").split("\n")[:-1]
    assert vectors.shape == (len(vocab), 8)
    np.testing.assert_allclose(vectors, t.model.embed.weight.detach().numpy(), rtol=1e-4, atol=1e-6)
    assert labels == [char_label(c) for c in vocab.chars] and "\\n" in labels and "\u2423" in labels


# ---------------------------------------------------------------- the command line

@pytest.mark.parametrize("corpus,prime", [("shakespeare", "ROMEO:"), ("python", "def "), ("c", "/* ")])
def test_cli_train_resume_and_sample_on_each_corpus(tmp_path, capsys, corpus, prime):
    try:
        load_corpus(corpus, download=False, max_chars=1000)
    except CorpusNotAvailable as exc:
        pytest.skip(str(exc).splitlines()[0])
    out = tmp_path / corpus
    common = ["--corpus", corpus, "--max-chars", "30000", "--no-progress", "--json"]
    rc = main(["charrnn", "train", "--model", "gru", "--layers", "2", "--hidden", "32", "--batch-size", "8",
               "--seq-length", "32", "--iters", "12", "--eval-every", "6", "--out", str(out), *common])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    s = json.loads(captured.out)
    assert s["model"] == "gru" and s["layers"] == 2 and s["steps"] == 12 and s["lr_decay"] == 0.97
    assert s["weight_decay"] == 0.2
    for key in ("chars_per_second", "train_nats_per_char", "val_nats_per_char", "seconds", "device"):
        assert s[key] is not None
    assert "tensorboard --logdir" in captured.err
    assert main(["charrnn", "train", "--resume", str(out), "--iters", "20", *common]) == 0
    s2 = json.loads(capsys.readouterr().out)
    assert s2["steps"] == 20 and s2["steps_this_run"] == 8
    assert main(["charrnn", "train", "--resume", str(out), "--hidden", "64", "--iters", "30", *common]) == 2
    assert "hidden 32 in the checkpoint vs 64" in capsys.readouterr().err
    assert main(["charrnn", "train", "--model", "gru", "--out", str(out), "--iters", "2", *common]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["charrnn", "sample", str(out), "--prime", prime, "-n", "50", "--temperature", "0.8"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(prime) and len(text) == len(prime) + 50 + 1
    assert main(["charrnn", "sample", str(out), "--prime", "\u00e9\u00e9", "-n", "5"]) == 2
    assert "--prime" in capsys.readouterr().err


def test_cli_resume_of_a_checkpoint_from_another_corpus_is_refused(tmp_path, capsys):
    out = tmp_path / "py"
    args = ["--max-chars", "20000", "--no-progress", "--hidden", "16", "--batch-size", "4", "--seq-length", "16"]
    assert main(["charrnn", "train", "--model", "lstm", "--corpus", "python", "--iters", "3", "--out", str(out),
                 "--no-tensorboard", *args]) == 0
    capsys.readouterr()
    assert main(["charrnn", "train", "--resume", str(out), "--corpus", "c", "--iters", "5",
                 "--max-chars", "20000", "--no-progress"]) == 2
    assert "'python' corpus" in capsys.readouterr().err


def test_the_benchmark_runs_a_few_steps_and_prints_one_json_object(capsys):
    """A smoke run of benchmarks/bench_char_lm.py (the real benchmark trains 120 s per configuration)."""
    import importlib.util
    try:
        load_corpus("shakespeare", download=False, max_chars=100)
    except CorpusNotAvailable as exc:
        pytest.skip(str(exc).splitlines()[0])
    spec = importlib.util.spec_from_file_location("bench_char_lm", ROOT / "benchmarks" / "bench_char_lm.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.BASELINE_TRAIN.weight_decay == 0.0 and bench.BASELINE_TRAIN.lr_decay == 1.0
    assert bench.main(["--iters", "3", "--json", "--variant", "small:hidden=32,threads=1",
                       "--variant", "base1:base=baseline,threads=1", "--only", "small,base1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["iters"] == 3 and [c["name"] for c in out["configurations"]] == ["small", "base1"]
    small, base1 = out["configurations"]
    assert small["hidden"] == 32 and small["steps"] == 3 and math.isfinite(small["val_nats_per_char"])
    assert base1["seq_length"] == 100 and base1["settings"]["train"]["weight_decay"] == 0.0
