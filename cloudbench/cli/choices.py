"""Command-line choices that come from the sensor registry, read when the option is parsed.

A product registered after the command module was imported (an entry point, or a test's
``register_imager``) is still offered: the choices are looked up on every use, not frozen at import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import click


class RegistryChoice(click.Choice):
    """A ``click.Choice`` whose choices are asked of a function each time they are needed."""

    def __init__(self, choices_fn: Callable[[], Sequence[str]], case_sensitive: bool = True):
        self._choices_fn = choices_fn
        super().__init__([], case_sensitive=case_sensitive)

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        return tuple(self._choices_fn())

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:  # click's __init__ assigns; the registry answers
        pass


def imager_positions() -> RegistryChoice:
    """``--imager``: every position an imager product serves (himawari, goes-east, ...)."""
    from cloudbench.sensors.registry import imager_choices

    return RegistryChoice(imager_choices)


def label_products() -> RegistryChoice:
    """``--labels``: every label product (cldclass-lidar, vfm, ...)."""
    from cloudbench.sensors.registry import label_choices

    return RegistryChoice(label_choices)
