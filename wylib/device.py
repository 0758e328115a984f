"""Device selection: "cpu", "cuda" (or "cuda:N"), or "auto" (CUDA when available, else CPU)."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """The torch device for a device name; "auto" picks CUDA when available."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r}: not a device name (use 'auto', 'cpu', 'cuda' or 'cuda:N')") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r}: CUDA is not available here (torch {torch.__version__}); "
                "use device='auto' (CUDA when present, else CPU) or 'cpu'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise ValueError(f"device={device!r}: only 'auto', 'cpu' and 'cuda[:N]' are supported")
    return dev


def device_kind(device: str | torch.device) -> str:
    """ "cuda" or "cpu" for a device name, without needing the device ("auto": what this machine has)."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if str(device).startswith("cuda") else "cpu"
