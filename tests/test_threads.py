"""CPU threads: one BLAS and torch thread by default, overridable, applied by the CLI, trainers and notebooks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from course_utils import runtime
from course_utils.runtime import limit_threads, thread_settings


@pytest.fixture(autouse=True)
def _restore_threads():
    torch_before = torch.get_num_threads()
    with threadpool_limits(limits=None):   # snapshot; restores BLAS threads on exit
        configured = runtime._CONFIGURED
        yield
        runtime._CONFIGURED = configured
    torch.set_num_threads(torch_before)


def test_default_is_one_thread(monkeypatch):
    monkeypatch.delenv("COURSE_BLAS_THREADS", raising=False)
    monkeypatch.delenv("COURSE_TORCH_THREADS", raising=False)
    assert limit_threads() == {"blas": 1, "torch": 1} == thread_settings()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores to tell 1 thread from 2")
def test_environment_overrides_and_auto(monkeypatch):
    monkeypatch.setenv("COURSE_BLAS_THREADS", "2")
    monkeypatch.setenv("COURSE_TORCH_THREADS", "2")
    assert limit_threads() == {"blas": 2, "torch": 2}
    limit_threads(blas=1, torch_threads=1)
    monkeypatch.setenv("COURSE_BLAS_THREADS", "auto")     # leave BLAS alone
    monkeypatch.setenv("COURSE_TORCH_THREADS", "auto")
    assert limit_threads() == {"blas": 1, "torch": 1}


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_bad_setting_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("COURSE_BLAS_THREADS", value)
    with pytest.raises(ValueError, match="COURSE_BLAS_THREADS"):
        limit_threads()
    with pytest.raises(ValueError, match="positive number"):
        limit_threads(blas=0)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores to tell 1 thread from 2")
def test_trainer_applies_the_default_once(monkeypatch):
    from course_utils.charrnn.train import train_batched

    monkeypatch.delenv("COURSE_BLAS_THREADS", raising=False)
    runtime._CONFIGURED = False
    limit = threadpool_limits(limits=2, user_api="blas")   # as after `import numpy` on 2 cores
    try:
        ids = np.arange(400) % 7
        train_batched(ids, 7, batch_size=2, iters=2, progress=False)
        assert thread_settings()["blas"] == 1
        limit_threads(blas=2, torch_threads=None)             # an explicit choice is kept
        train_batched(ids, 7, batch_size=2, iters=2, progress=False)
        assert thread_settings()["blas"] == 2
    finally:
        limit.restore_original_limits()


def test_course_command_and_notebook_setup_run_single_threaded(tmp_path):
    """A fresh `course` process and a fresh setup_notebook() both end with one BLAS and torch thread."""
    code = ("import json, sys\n"
            "from course_utils import cli\n"
            "from course_utils.runtime import thread_settings\n"
            "cli.main(['data', 'list'])\n"
            "a = thread_settings()\n"
            "from course_utils.runtime import limit_threads; limit_threads(blas=2, torch_threads=2)\n"
            "from course_utils.plotting import setup_notebook; setup_notebook()\n"
            "print(json.dumps([a, thread_settings()]))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_") or k == "COURSE_HEADLESS"}
    env["COURSE_DATA_DIR"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    after_cli, after_setup = json.loads(out.stdout.strip().splitlines()[-1])
    assert after_cli == {"blas": 1, "torch": 1}
    assert after_setup == {"blas": 1, "torch": 1}


# ---------------------------------------------------------------- the thread tuner

def _drive(tuner, seconds_for, steps):
    """Feed the tuner ``steps`` step durations from ``seconds_for(threads, step)``; return the counts used."""
    used = []
    for i in range(steps):
        n = tuner.threads
        used.append(n)
        tuner.record(seconds_for(n, i))
    return used


def test_tuner_keeps_the_faster_count_and_follows_a_change_of_load():
    from course_utils.runtime import ThreadTuner

    torch.set_num_threads(1)
    tuner = ThreadTuner([1, 2], probe=5, settle=1, interval=1.0, max_interval=4.0)
    quiet = {1: 0.024, 2: 0.018}           # two threads faster ...
    busy = {1: 0.026, 2: 0.070}            # ... until another process takes a core
    used = _drive(tuner, lambda n, i: quiet[n] if i < 400 else busy[n], 800)
    assert used[300:400].count(2) == 100                       # chose 2 on the quiet machine
    assert used[-200:].count(1) >= 180                         # back to 1 once the load came, probing rarely
    assert tuner.switches == 2
    summary = tuner.close()
    assert summary["threads"] == 1 and torch.get_num_threads() == 1
    assert sum(summary["steps_per_thread_count"].values()) == 800


def test_tuner_needs_a_clear_margin_to_switch_and_waits_longer_each_time_it_holds():
    from course_utils.runtime import ThreadTuner

    torch.set_num_threads(1)
    tuner = ThreadTuner([1, 2], probe=5, settle=0, interval=1.0, max_interval=8.0)
    used = _drive(tuner, lambda n, i: 0.020 if n == 1 else 0.0195, 2000)   # 2.5 % faster: not worth switching
    assert tuner.current == 1 and tuner.switches == 0
    assert tuner.interval == 8.0
    assert used.count(2) < 0.1 * len(used)
    tuner.close()


def test_tuner_rejects_bad_settings():
    from course_utils.runtime import ThreadTuner

    with pytest.raises(ValueError, match="positive thread counts"):
        ThreadTuner([0, 2])
    with pytest.raises(ValueError, match="probe"):
        ThreadTuner([1, 2], probe=0)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores to tell 1 thread from 2")
@pytest.mark.parametrize("cell,dtype", [("lstm", "float32"), ("lstm", "auto")])
def test_the_thread_count_does_not_change_the_numbers(cell, dtype):
    """The tuner may switch counts mid-run, so exact resume relies on this: 1 and 2 threads agree bit for bit."""
    from course_utils.charrnn.lm import LMConfig
    from course_utils.charrnn.lm_train import LMTrainer, TrainConfig
    from course_utils.data import CharVocab

    text = "".join(chr(97 + (i * 7 + i // 13) % 26) + (" " if i % 5 == 0 else "") for i in range(40_000))
    vocab = CharVocab.from_text(text)
    ids = np.asarray(vocab.encode(text))
    tc = TrainConfig(batch_size=32, seq_length=16, dtype=dtype, eval_every=0, histogram_every=0, sample_every=0,
                     checkpoint_every=0)
    params = {}
    for n in (1, 2):
        t = LMTrainer(ids[:35_000], ids[35_000:], vocab, LMConfig(vocab_size=len(vocab), cell=cell, hidden=128),
                      tc, tensorboard=False, threads=n)
        t.fit(iters=4, progress=False, final_eval=False)
        assert t.thread_report == {"threads": n, "tuned": False}
        params[n] = t.model.state_dict()
    assert all(torch.equal(params[1][k], params[2][k]) for k in params[1])


def test_char_lm_trainer_tunes_threads_unless_told(monkeypatch):
    from course_utils.charrnn.lm import LMConfig
    from course_utils.charrnn.lm_train import LMTrainer, TrainConfig
    from course_utils.data import CharVocab

    text = "abcd efgh " * 2000
    vocab = CharVocab.from_text(text)
    ids = np.asarray(vocab.encode(text))
    tc = TrainConfig(batch_size=4, seq_length=16, eval_every=0, histogram_every=0, sample_every=0, checkpoint_every=0)
    lm = LMConfig(vocab_size=len(vocab), hidden=16, layers=1)
    torch.set_num_threads(1)
    monkeypatch.delenv("COURSE_TORCH_THREADS", raising=False)
    t = LMTrainer(ids, ids[:500], vocab, lm, tc, tensorboard=False)
    s = t.fit(iters=16, progress=False, final_eval=False)
    assert s["tuned"] is True and sum(s["steps_per_thread_count"].values()) == 16
    assert torch.get_num_threads() == 1                       # restored after training
    monkeypatch.setenv("COURSE_TORCH_THREADS", "1")           # the user fixed it: no tuning
    s = LMTrainer(ids, ids[:500], vocab, lm, tc, tensorboard=False).fit(iters=5, progress=False, final_eval=False)
    assert s["tuned"] is False and s["threads"] == 1
    with pytest.raises(ValueError, match="threads must be"):
        LMTrainer(ids, ids[:500], vocab, lm, tc, tensorboard=False, threads=0)
