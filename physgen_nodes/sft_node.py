"""The SFT node: one supervised fine-tuning job (:func:`physgen.training.sft.train_sft`) from its
parameters, with progress, checkpoints and a clean stop on shutdown (:mod:`physgen_nodes.trainer`).

Parameters: the fields of :class:`physgen.training.sft_config.SFTRunConfig` (``task``, ``model`` and
``out`` are required) and ``exit_when_done``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from physgen.training.sft_config import SFTRunConfig
from physgen_nodes.params import declare_config
from physgen_nodes.runner import run_node
from physgen_nodes.trainer import TrainerNode

REQUIRED = ("task", "model", "out")


@dataclass(frozen=True)
class SFTNodeConfig:
    exit_when_done: bool = True  # end the process when the job is done (a launch then shuts down)


class SFTNode(TrainerNode):
    job = "sft"

    def __init__(self, **kwargs):
        super().__init__("sft", **kwargs)
        self.run_config = declare_config(self, SFTRunConfig, required=REQUIRED)
        self.exit_when_done = declare_config(self, SFTNodeConfig).exit_when_done
        self.start()

    def train(self, callbacks: list) -> Path | None:
        from physgen.training.sft import train_sft

        return train_sft(self.run_config, progress=False, callbacks=callbacks)


def main(args: list[str] | None = None) -> None:
    run_node(SFTNode, args)


if __name__ == "__main__":
    main()
