"""The private parts of TRL's GRPOTrainer that physgen's one trainer subclass relies on
(physgen/training/grpo.py, physgen/training/multistep.py). A TRL release that renames or reshapes
any of them fails here, by name, before a training run fails in its first step."""

from __future__ import annotations

import inspect

import pytest

trl = pytest.importorskip("trl")

# method -> the parameters physgen passes (by name or position), in TRL's order
METHODS = {
    "_generate_and_score_completions": ("self", "inputs"),
    "_get_per_token_logps_and_entropies": ("self", "model", "input_ids", "attention_mask", "logits_to_keep",
                                           "batch_size", "num_images"),
}
# attributes the multi-step rollouts read from the trainer once it is built (set by GRPOTrainer or Trainer)
ATTRIBUTES = ("accelerator", "args", "model", "model_wrapped", "ref_model", "beta", "num_generations",
              "num_iterations", "scale_rewards", "processing_class", "eos_token_ids", "generation_config",
              "generation_kwargs", "_metrics", "state", "_dist")


@pytest.mark.parametrize("name", sorted(METHODS))
def test_the_private_methods_physgen_calls_keep_their_names_and_parameters(name):
    method = getattr(trl.GRPOTrainer, name, None)
    assert method is not None, f"TRL {trl.__version__}: GRPOTrainer.{name} is gone (physgen overrides or calls it)"
    params = list(inspect.signature(method).parameters)
    missing = [p for p in METHODS[name] if p not in params]
    assert missing == [], f"TRL {trl.__version__}: GRPOTrainer.{name} lost the parameters {missing}"
    assert params[: 2] == list(METHODS[name][:2]), f"TRL {trl.__version__}: GRPOTrainer.{name}{params}"


def test_the_attributes_the_rollouts_read_are_set_by_the_trainer():
    source = "".join(inspect.getsource(c) for c in trl.GRPOTrainer.__mro__
                     if c.__module__.split(".")[0] in ("trl", "transformers"))
    missing = [a for a in ATTRIBUTES if f"self.{a} =" not in source and f"self.{a}=" not in source
               and not hasattr(trl.GRPOTrainer, a)]
    assert missing == [], f"TRL {trl.__version__}: GRPOTrainer no longer sets {missing}"


def test_physgen_overrides_exactly_one_trl_method():
    from physgen.training.grpo import _trainer_class

    cls = _trainer_class()
    ours = {n for c in cls.__mro__ if c.__module__.startswith("physgen.") for n in vars(c)}
    overridden = sorted(n for n in ours if n not in ("__init__", "__module__", "__qualname__", "__doc__")
                        and hasattr(trl.GRPOTrainer, n) and not n.startswith("__"))
    assert overridden == ["_generate_and_score_completions"]
