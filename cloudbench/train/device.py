"""Device choice and mixed precision, in one place for training, evaluation and benchmarks."""

from __future__ import annotations

import torch

from cloudbench.errors import UserError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU. An explicit device that is absent is a UserError."""
    name = name.lower()
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise UserError("--device cuda but no CUDA device is visible", fix="use --device auto or cpu")
    if name == "mps" and not mps:
        raise UserError("--device mps but Apple MPS is not available", fix="use --device auto or cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise UserError(f"unknown device {name!r}", fix="use auto, cpu, cuda or mps")
    return torch.device(name)


def autocast_for(device: torch.device):
    """bf16 autocast on CUDA (fast, no loss scaling needed); full precision elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)
