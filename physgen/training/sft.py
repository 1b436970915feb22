"""Supervised fine-tuning with TRL's ``SFTTrainer`` (PEFT LoRA by default; full fine-tuning for tiny
models). Loss on the answer only. A run directory holds everything needed to repeat or resume it::

    OUT/physgen_sft.json    the config                 OUT/dataset/      the training rows
    OUT/checkpoints/        trainer checkpoints        OUT/log.jsonl     loss per logging step
    OUT/model/              the final model (LoRA merged), loadable like any HF checkpoint
    OUT/samples.jsonl       greedy answers of the final model on training prompts
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from physgen.config import to_dict
from physgen.training import datasets as tds
from physgen.training.collate import AnswerOnlyCollator
from physgen.training.sft_config import SFTRunConfig

log = logging.getLogger("physgen")


def _json_log_callback(path: Path):
    from transformers import TrainerCallback

    class JsonLog(TrainerCallback):
        """Appends every trainer log (loss, learning rate, grad norm) as one JSON line."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs:
                with path.open("a") as f:
                    f.write(json.dumps({"step": state.global_step, **logs}) + "\n")

    return JsonLog()


def last_complete_checkpoint(folder: Path) -> str | None:
    """The newest ``checkpoint-N`` that was fully written (a kill can interrupt the latest one;
    ``trainer_state.json`` is written last)."""
    if not folder.is_dir():
        return None
    done = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return str(max(done, key=lambda p: int(p.name.split("-")[-1]))) if done else None


def resume_point(out: Path) -> str | None:
    """The checkpoint to resume from (None: start afresh), with ``OUT/log.jsonl`` cut back to the
    steps it holds, so a resumed run logs every step exactly once."""
    last = last_complete_checkpoint(out / "checkpoints")
    path = out / "log.jsonl"
    if path.is_file():
        step = int(last.rsplit("-", 1)[-1]) if last else 0
        keep = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln).get("step", 0) <= step]
        path.write_text("".join(ln + "\n" for ln in keep))
    if last:
        log.info("resuming from %s", last)
    return last


def dataset_for(cfg: SFTRunConfig, progress=None):
    """The run's dataset: loaded from ``OUT/dataset`` when present, else built and saved there."""
    return tds.run_rows(cfg, progress=progress)


def _dataset_with_progress(cfg: SFTRunConfig, progress: bool):
    from tqdm import tqdm

    tasks = len(cfg.task.split("+"))
    total = cfg.examples * tasks + tds.rehearsal_rows(cfg.examples * tasks, cfg.rehearsal)
    with tqdm(total=total, desc=f"dataset {cfg.task}", unit="row", disable=not progress or None) as bar:
        return dataset_for(cfg, bar.update)


def train_sft(cfg: SFTRunConfig, progress: bool = True, callbacks=()) -> Path | None:
    """Run (or resume) SFT; returns the final model directory ``OUT/model`` (None when a callback
    stopped the run early). ``callbacks`` are extra ``transformers.TrainerCallback``s."""
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForImageTextToText
    from trl import SFTConfig, SFTTrainer

    from physgen.models.processor import load_processor
    from physgen.models.recipes import resolve_model

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "physgen_sft.json").write_text(json.dumps(to_dict(cfg), indent=2))
    ds = _dataset_with_progress(cfg, progress)
    model_dir = resolve_model(cfg.model)
    processor = load_processor(model_dir)
    torch.manual_seed(cfg.seed)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    peft_config = (
        LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                   target_modules="all-linear", task_type="CAUSAL_LM")
        if cfg.lora else None
    )
    cuda = torch.cuda.is_available()  # bf16 autocast on CPU is many times slower than float32
    args = SFTConfig(
        output_dir=str(out / "checkpoints"), max_steps=cfg.steps, per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_steps, logging_steps=cfg.logging_steps, save_steps=cfg.save_steps,
        save_total_limit=2, seed=cfg.seed, data_seed=cfg.seed, report_to=[], remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True}, disable_tqdm=not progress, dataloader_num_workers=0,
        use_cpu=not cuda, bf16=cuda and torch.cuda.is_bf16_supported(), fp16=False,
        gradient_checkpointing=False,  # TRL's default trades time for memory; tiny models need neither
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, data_collator=AnswerOnlyCollator(processor),
                         processing_class=processor, peft_config=peft_config,
                         callbacks=[_json_log_callback(out / "log.jsonl"), *callbacks])
    trainer.train(resume_from_checkpoint=resume_point(out))
    if trainer.state.global_step < cfg.steps:  # stopped early (a shutdown); its checkpoint resumes it
        return None
    final_dir = save_final(trainer.model, cfg.lora, processor, model_dir, out / "model")
    _log_samples(final_dir, ds, cfg, out / "samples.jsonl")
    return final_dir


def save_final(model, lora: bool, processor, source_dir: Path, final_dir: Path) -> Path:
    """The trained model (LoRA merged) with its processor and the recipe it came from, as a model
    directory any policy loads."""
    final = model.merge_and_unload() if lora else model
    final.save_pretrained(final_dir)
    processor.save_pretrained(final_dir)
    recipe = Path(source_dir) / "physgen_recipe.yaml"
    if recipe.is_file():
        (final_dir / "physgen_recipe.yaml").write_text(recipe.read_text())
    return final_dir


def sample_observations(ds, n: int):
    """The first ``n`` dataset rows and their observations, as a policy receives them, each with its
    task's or caption question's answer format."""
    import numpy as np

    from physgen.policy.base import Observation
    from physgen.tasks import load_task
    from physgen.tasks.captions import CAPTIONS, caption

    rows = [ds[i] for i in range(min(n, len(ds)))]
    obs = []
    for r in rows:
        fmt = caption(r["seed"]).format if r["source"] == CAPTIONS else load_task(r["source"]).answer_format
        obs.append(Observation(np.asarray(r["image"].convert("RGB")), r["prompt"], r["source"], r["seed"], fmt))
    return rows, obs


def _log_samples(model_dir: Path, ds, cfg: SFTRunConfig, path: Path) -> None:
    """Greedy answers of the saved model on the first training prompts, through the policy itself."""
    if cfg.sample_answers == 0:
        return
    from physgen.policy.vlm import TransformersPolicy, VLMConfig

    rows, obs = sample_observations(ds, cfg.sample_answers)
    policy = TransformersPolicy(VLMConfig(model=str(model_dir)))
    try:
        answers = policy.act_batch(obs)
    finally:
        policy.close()
    with path.open("w") as f:
        for r, a in zip(rows, answers):
            f.write(json.dumps({"seed": r["seed"], "prompt": r["prompt"], "target": r["answer"], "answer": a}) + "\n")
