"""Policies by name, the one place the CLI and the nodes build them from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from physgen.config import ConfigError, one_of

if TYPE_CHECKING:  # keep `physgen --help` free of the simulator and model imports
    from physgen.policy.base import Policy

POLICIES = ("expert", "chance", "vlm")


def make_policy(name: str, seed: int = 0, model: str | None = None, oracles=None, label: str | None = None) -> Policy:
    """``expert`` (shares ``oracles`` when given), ``chance`` (seeded) or ``vlm`` (``model``: a model
    directory or recipe name; required), named ``label`` in its records when given."""
    one_of("policy", name, POLICIES)
    if name == "vlm":
        if not model:
            raise ConfigError("model", model, "a model directory or recipe name for the vlm policy")
        from physgen.models.recipes import resolve_model
        from physgen.policy.vlm import TransformersPolicy, VLMConfig

        named = {"name": label} if label else {}
        return TransformersPolicy(VLMConfig(model=str(resolve_model(model)), seed=seed, **named))
    if name == "expert":
        from physgen.policy.expert import ExpertPolicy

        policy = ExpertPolicy(oracles)
    else:
        from physgen.policy.chance import ChancePolicy

        policy = ChancePolicy(seed)
    if label:
        policy.name = label
    return policy


def uses_image(kind: str) -> bool:
    """Whether a ``kind`` policy answers from the camera frame (its class's ``Policy.uses_image``)."""
    one_of("policy", kind, POLICIES)
    if kind == "vlm":
        return True  # TransformersPolicy, not imported here: that loads torch
    from physgen.policy.chance import ChancePolicy
    from physgen.policy.expert import ExpertPolicy

    return {"expert": ExpertPolicy, "chance": ChancePolicy}[kind].uses_image
