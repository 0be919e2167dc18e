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
