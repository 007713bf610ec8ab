"""Attribute paths: where in a value a diagnostic or a replacement points.

A path is a tuple of steps: a `str` names an attribute, an `int` indexes a list or tuple, and an
`ElementKey` selects a map element, as Terraform's AttributePath does.
"""

from __future__ import annotations

from typing import NamedTuple

from provider.plugin import tfplugin6


class ElementKey(NamedTuple):
    key: str


Step = str | int | ElementKey
Path = tuple[Step, ...]


def format_path(path: Path) -> str:
    """The path as HCL would write it, e.g. user_config.regions[0] or labels["team"]."""
    text = ""
    for step in path:
        if isinstance(step, ElementKey):
            text += f'["{step.key}"]'
        elif isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else step
    return text


def path_to_proto(path: Path) -> tfplugin6.AttributePath:
    steps = []
    for step in path:
        if isinstance(step, ElementKey):
            steps.append(tfplugin6.AttributePath.Step(element_key_string=step.key))
        elif isinstance(step, int):
            steps.append(tfplugin6.AttributePath.Step(element_key_int=step))
        else:
            steps.append(tfplugin6.AttributePath.Step(attribute_name=step))
    return tfplugin6.AttributePath(steps=steps)
