"""A run killed after an epoch resumes to exactly the result of an uninterrupted run (CPU, fixed seed)."""

import pytest
import torch

from cloudbench.train.evaluate import dataset_splits
from cloudbench.train.pipeline import train_on
from cloudbench.train.trainer import TrainConfig, load_checkpoint


class Killed(Exception):
    pass


def _kill_after_first_epoch(epoch, record):
    if epoch == 0:
        raise Killed


@pytest.mark.parametrize("model", ["sgmagnet"])
def test_resume_matches_uninterrupted(fake_dataset, tmp_path, model):
    config = TrainConfig(model=model, size="tiny", epochs=3, batch_size=4, seed=7, patience=10, device="cpu")
    splits = dataset_splits(fake_dataset)
    full = train_on(splits, tmp_path / "full", config)

    with pytest.raises(Killed):
        train_on(splits, tmp_path / "killed", config, on_epoch_end=_kill_after_first_epoch)
    assert load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.pt")["train_state"]["epoch"] == 1
    resumed = train_on(splits, tmp_path / "killed", config, resume=True)

    assert resumed["metrics"] == full["metrics"]
    strip = ("seconds", "samples_per_s", "data_wait_fraction")
    assert [{k: v for k, v in h.items() if k not in strip} for h in resumed["history"]] == [
        {k: v for k, v in h.items() if k not in strip} for h in full["history"]
    ]
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["model_state"]
    b = load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.pt")["model_state"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_without_checkpoint_is_a_user_error(fake_dataset, tmp_path):
    from cloudbench.errors import UserError

    with pytest.raises(UserError, match="resume"):
        train_on(dataset_splits(fake_dataset), tmp_path / "new", TrainConfig(size="tiny", epochs=1), resume=True)
