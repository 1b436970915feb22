"""The study's training stages hand their fields to the run configs as they are: a stage field that
is not a run-config field (a typo, a rename on one side) fails here, not in the middle of a study."""

from __future__ import annotations

from dataclasses import fields

import pytest

from physgen.experiments.study import GRPOStage, SFTStage
from physgen.training.grpo_config import GRPORunConfig
from physgen.training.sft_config import SFTRunConfig


@pytest.mark.parametrize("stage, run", [(SFTStage, SFTRunConfig), (GRPOStage, GRPORunConfig)])
def test_every_stage_field_is_a_run_config_field_of_the_same_type(stage, run):
    run_fields = {f.name: f.type for f in fields(run)}
    for f in fields(stage):
        assert f.name in run_fields, f"{stage.__name__}.{f.name} is not a {run.__name__} field"
        assert f.type == run_fields[f.name], f"{stage.__name__}.{f.name}: {f.type} vs {run_fields[f.name]}"
