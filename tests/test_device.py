"""wylib.device: device names resolve to what this machine has, or fail with a message naming the parameter."""

from __future__ import annotations

import pytest
import torch

from wylib.device import device_kind, resolve_device


def test_auto_and_cpu_resolve():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only machine's error")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match=r"device='cuda': CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match=r"device='cuda:1'"):
        resolve_device("cuda:1")


def test_unknown_device_names_the_parameter():
    for bad in ("gpu", "cuda0", ""):
        with pytest.raises(ValueError, match="device="):
            resolve_device(bad)
    with pytest.raises(ValueError, match="only 'auto', 'cpu' and 'cuda"):
        resolve_device("meta")


def test_device_kind_plans_for_absent_devices():
    assert device_kind("cuda:3") == "cuda" and device_kind("cpu") == "cpu"
    assert device_kind("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
