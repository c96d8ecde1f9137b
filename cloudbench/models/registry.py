"""Model registry: one ``build_model`` call for every architecture the trainer knows."""

from __future__ import annotations

from collections.abc import Callable

from cloudbench.models.common import SIZE_WIDTHS, ModelSpec, PhaseVolumeModel
from cloudbench.models.segnet import SegNet
from cloudbench.models.sgmagnet import SGMAGNet
from cloudbench.models.unet import AttentionUNet, UNet

MODELS: dict[str, Callable[[ModelSpec], PhaseVolumeModel]] = {
    "sgmagnet": SGMAGNet,
    "unet": UNet,
    "attention-unet": AttentionUNet,
    "segnet": SegNet,
}
MODEL_NAMES = tuple(MODELS)
SIZES = tuple(SIZE_WIDTHS)


def build_model(
    name: str,
    in_channels: int,
    aux_channels: int,
    num_classes: int,
    levels: int,
    size: str = "small",
) -> PhaseVolumeModel:
    """Build a model by name; every one maps (x, aux) to logits (B, num_classes, levels, P, P).

    Raises:
        ValueError: unknown name or size (the message lists the valid ones).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    if size not in SIZE_WIDTHS:
        raise ValueError(f"unknown model size {size!r}; choose one of {', '.join(SIZE_WIDTHS)}")
    spec = ModelSpec(name, in_channels, aux_channels, num_classes, levels, size)
    return MODELS[name](spec)


def build_from_spec(spec: ModelSpec | dict) -> PhaseVolumeModel:
    """Rebuild a model from the spec stored in a checkpoint."""
    if isinstance(spec, dict):
        spec = ModelSpec(**spec)
    return build_model(spec.name, spec.in_channels, spec.aux_channels, spec.num_classes, spec.levels, spec.size)
