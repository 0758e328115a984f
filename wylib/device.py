"""Device selection: "cpu", "cuda" (or "cuda:N"), or "auto" (CUDA when available, else CPU)."""

from __future__ import annotations

import torch


def resolve_device(device: str) -> torch.device:
    """The torch device for a device name; "auto" picks CUDA when available."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
