"""Phase-volume models: SGMAGNet and the UNet, Attention-UNet and SegNet baselines."""

from cloudbench.models.common import ModelSpec, PhaseVolumeModel
from cloudbench.models.registry import MODEL_NAMES, SIZES, build_from_spec, build_model

__all__ = ["MODEL_NAMES", "SIZES", "ModelSpec", "PhaseVolumeModel", "build_from_spec", "build_model"]
