"""Shared model interface, size presets, and SGMAGNet's phase-aware gating."""

import pytest
import torch

from cloudbench.models import MODEL_NAMES, build_model


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_output_shape_any_patch_size(name):
    model = build_model(name, in_channels=5, aux_channels=2, num_classes=4, levels=13, size="tiny")
    out = model(torch.randn(2, 5, 13, 18), torch.randn(2, 2, 13, 18))
    assert out.shape == (2, 4, 13, 13, 18)
    out.sum().backward()  # every parameter on the graph
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_size_scales_parameters(name):
    counts = [build_model(name, 16, 4, 4, 20, size=s).num_parameters for s in ("tiny", "small", "base")]
    assert counts[0] < counts[1] < counts[2]


def test_unknown_name_and_size():
    with pytest.raises(ValueError, match="sgmagnet"):
        build_model("resnet", 16, 4, 4, 20)
    with pytest.raises(ValueError, match="small"):
        build_model("unet", 16, 4, 4, 20, size="huge")


def test_sgmagnet_gating_is_a_distribution():
    """softmax(logits) = [1 - p(cloud), p(cloud) p(phase | cloud)]: sums to 1, logits are log-probs."""
    torch.manual_seed(0)
    model = build_model("sgmagnet", 4, 0, 4, 8, size="tiny").eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 4, 8, 8), None)
    probs = logits.exp()
    assert torch.allclose(probs.sum(dim=1), torch.ones_like(probs[:, 0]), atol=1e-5)
    assert torch.allclose(logits.softmax(dim=1), probs, atol=1e-5)
