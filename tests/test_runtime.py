"""Device selection and seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.runtime import as_numpy, get_device, seed_everything, to_tensor


def test_default_device_follows_cuda_availability(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert get_device("cpu") == torch.device("cpu")


def test_env_override_and_clear_error_without_cuda(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv("COURSE_DEVICE", "cuda")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            get_device()


def test_seed_everything_repeats_all_generators():
    rng = seed_everything(7)
    a = (np.random.rand(3), torch.rand(3), rng.random(3))
    rng = seed_everything(7)
    b = (np.random.rand(3), torch.rand(3), rng.random(3))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(as_numpy(x), as_numpy(y))
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_to_tensor_dtype_and_device():
    t = to_tensor(np.ones((2, 3)), device="cpu", dtype="float32")
    assert t.dtype == torch.float32 and t.device.type == "cpu" and t.shape == (2, 3)
    with pytest.raises(ValueError, match="unknown dtype"):
        to_tensor([1.0], dtype="float8")
