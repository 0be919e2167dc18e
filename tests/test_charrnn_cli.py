"""``course charrnn train|sample`` and safe checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from course_utils.charrnn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from course_utils.charrnn.minchar import init_params
from course_utils.cli import main
from course_utils.data import CharVocab


def test_train_json_summary_checkpoint_and_sample(tmp_path, capsys):
    out = tmp_path / "ck"
    rc = main(["charrnn", "train", "--model", "minchar-batched", "--corpus", "python", "--max-chars", "20000",
               "--iters", "30", "--hidden", "16", "--batch-size", "4", "--out", str(out), "--json", "--no-progress"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("chars_per_second", "initial_smooth_loss", "final_smooth_loss", "val_loss", "iterations"):
        assert key in summary
    assert summary["iterations"] == 30 and summary["chars"] == 30 * 25 * 4
    assert summary["initial_smooth_loss"] == pytest.approx(25 * np.log(summary["vocab_size"]), abs=1e-3)
    assert 0 < summary["val_loss"] < 6
    ck = load_checkpoint(out)
    assert ck.params["Whh"].shape == (16, 16) and ck.config["model"] == "minchar-batched"

    assert main(["charrnn", "sample", str(out), "--prime", "def ", "-n", "40", "--temperature", "0.5"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("def ") and len(text) == 4 + 40 + 1
    # same seed, same text
    main(["charrnn", "sample", str(out), "--prime", "def ", "-n", "40", "--temperature", "0.5"])
    assert capsys.readouterr().out == text


def test_faithful_model_trains_for_seconds(tmp_path, capsys):
    rc = main(["charrnn", "train", "--model", "minchar", "--corpus", "python", "--max-chars", "5000",
               "--seconds", "0.5", "--hidden", "8", "--out", str(tmp_path / "m"), "--no-progress"])
    assert rc == 0
    assert "chars/s" in capsys.readouterr().out


def test_sample_rejects_unknown_prime_characters(tmp_path, capsys):
    vocab = CharVocab.from_text("abc\n")
    save_checkpoint(tmp_path, init_params(len(vocab), 5), vocab, {"model": "minchar"})
    assert main(["charrnn", "sample", str(tmp_path), "--prime", "abz", "-n", "5"]) == 2
    err = capsys.readouterr().err
    assert "--prime" in err and "'z'" in err
    assert main(["charrnn", "sample", str(tmp_path), "--prime", "", "-n", "5"]) == 2
    assert "empty" in capsys.readouterr().err


def test_train_rejects_a_corpus_shorter_than_seq_length(tmp_path, capsys):
    rc = main(["charrnn", "train", "--corpus", "python", "--max-chars", "20", "--iters", "1",
               "--out", str(tmp_path / "x"), "--no-progress"])
    assert rc == 2
    assert "seq_length" in capsys.readouterr().err


def test_checkpoint_for_another_vocabulary_is_refused(tmp_path):
    vocab = CharVocab.from_text("abcd")
    save_checkpoint(tmp_path, init_params(4, 3), vocab, {"model": "minchar"})
    with pytest.raises(CheckpointError, match="different vocabulary.*unknown to the checkpoint: 'e'"):
        load_checkpoint(tmp_path, vocab=CharVocab.from_text("abcde"))
    assert load_checkpoint(tmp_path, vocab=vocab).vocab == vocab


def test_checkpoint_files_must_belong_together(tmp_path):
    save_checkpoint(tmp_path, init_params(4, 3), CharVocab.from_text("abc"), {"model": "minchar"})
    with pytest.raises(CheckpointError, match="do not belong together"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "nothing")


def test_checkpoints_never_unpickle(tmp_path):
    vocab = CharVocab.from_text("ab")
    np.save(tmp_path / "evil.npy", np.array([object()], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "params.npz", Wxh=np.array([{"a": 1}], dtype=object))
    vocab.save(tmp_path / "vocab.json")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path)
