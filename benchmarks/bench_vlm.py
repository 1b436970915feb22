"""VLM policy and SFT performance of the tiny recipes on CPU: generation latency, policy-step overhead,
SFT samples/s and its collate/compute split, memory.

Everything runs in ONE process on the CPU with torch limited to --threads intra-op threads (default 1,
so rates are "per core", as in bench_cell.py). For each tiny recipe (tiny-qwen2-vl, tiny-idefics3),
built with build_model (weights seed --seed) into a temporary directory and loaded as
TransformersPolicy(VLMConfig(model=DIR, batch_size=B)) (greedy, max_new_tokens 16: VLMConfig's
defaults). Observations are real frames, rendered once before any timing: RobotCell +
episode.begin/observation, the tasks in turn, seeds --seed + i, train split, 224x224 tiny renderer.

1. generation - TransformersPolicy.act on each of B observations in turn (batch 1) against ONE
   act_batch on the same B observations (--batch, default 8; one generate call): ms per frame for
   each, and batched/single time per frame. "new tok" is the generated length (max_new_tokens unless
   an end token came first; random weights rarely emit one).
2. policy step vs bare generate - a full step (image array -> chat prompt -> processor -> generate ->
   decode -> codec.parse) against model.generate(**inputs) on inputs prepared once beforehand by
   policy.inputs for the same observations, with the policy's generation kwargs (greedy, the same
   max_new_tokens) under torch.inference_mode like the policy. In the same repetitions, also timed
   alone: prep (policy.inputs: PIL image, chat template, processor) and post (decode + codec.parse).
   Batch 1 (ms per frame; paired frame by frame: reps x B pairs over the B observations) and batch B
   (ms per call; reps pairs).
   "same text" checks that the bare call's decoded output equals the policy's answers.
3. SFT - (a) end to end: physgen.training.sft.train_sft, i.e. TRL's SFTTrainer as `physgen train sft`
   runs it (SFTRunConfig defaults except steps, batch size, examples, lora, sample_answers=0), full
   fine-tuning and LoRA (rank 16), --sft-steps optimizer steps of --sft-batch rows, on a dataset of
   --sft-task rows built once (physgen.training.datasets.build) and copied into each run directory.
   "trainer samples/s" is train_samples_per_second from the run's log.jsonl (steps x batch /
   train_runtime: includes the first, warm-up step and the checkpoint the trainer writes at the last
   step; excludes model loading, LoRA merging and saving the final model, which "train_sft wall s" (the
   wall time of the whole call) includes).
   (b) the step split, timed directly on the same batches of the same dataset: collate =
   AnswerOnlyCollator(rows); step = forward with labels, backward, clip grad norm to 1.0, optimizer
   step, zero_grad, with the trainer's optimizer (Trainer.get_optimizer_cls_and_kwargs of an
   SFTConfig with train_sft's learning rate) on models loaded as train_sft loads them (float32; LoRA
   through peft with train_sft's LoraConfig). It leaves out what SFTTrainer adds around a step
   (entropy and token-accuracy metrics, LR schedule, logging, callbacks). "direct samples/s" =
   batch / (collate + step).
4. memory - parameter count and bytes of each model (float32), LoRA trainable parameters, and RSS:
   "proc peak" is the process's lifetime peak (getrusage ru_maxrss) after loading the policy and after
   each SFT run; "phase peak" is the peak within that phase alone (Linux: VmHWM, reset through
   /proc/self/clear_refs at the phase start; that reset lowers ru_maxrss too, so the lifetime peak is
   carried across resets by reading ru_maxrss just before each) and "+peak" its growth over the RSS
   at the phase start. The tiny models are a few MiB, so most of the RSS is torch, transformers,
   PyBullet and the rendered frames.

How: time.perf_counter; every case runs once untimed first; the two sides of every printed ratio are
measured interleaved (A B, B A, ...) in the same run, and each ratio is the median of the
per-repetition paired ratios; times are medians. Seeds are explicit (--seed). Progress goes to stderr,
the tables to stdout. Nothing is downloaded (physgen's offline(): HF_HUB_OFFLINE=1).

    .venv/bin/python benchmarks/bench_vlm.py [--quick] [--batch B] [--threads N] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_cell import c_stdout_captured, interleave, median, paired_ratio, print_tables, progress, timed

from physgen.cell.cell import RobotCell
from physgen.evaluation.episode import begin, observation
from physgen.models.hub import offline
from physgen.policy.base import Observation
from physgen.tasks import load_task, task_names
from physgen.tasks.codec import parse

RECIPES = ("tiny-qwen2-vl", "tiny-idefics3")
MB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Budget:
    gen_reps: int = 9
    step_reps: int = 9
    sft_steps: int = 30
    sft_rows: int = 16  # dataset rows (2 batches of the default --sft-batch)

    @classmethod
    def quick(cls, sft_batch: int) -> Budget:
        return cls(gen_reps=3, step_reps=3, sft_steps=5, sft_rows=sft_batch)


# --- helpers ---------------------------------------------------------------------------------------
def _status_kb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024


_LIFETIME_PEAK_MB = [0.0]  # ru_maxrss seen before each peak reset (resetting VmHWM also lowers ru_maxrss)


def maxrss_mb() -> float:
    """The process's lifetime peak RSS: getrusage ru_maxrss (KiB on Linux, bytes on macOS), carried
    across the resets of :func:`memory_phase` (on Linux clear_refs lowers ru_maxrss too)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _LIFETIME_PEAK_MB[0] = max(_LIFETIME_PEAK_MB[0], r / MB if sys.platform == "darwin" else r / 1024)
    return _LIFETIME_PEAK_MB[0]


@contextlib.contextmanager
def memory_phase(record: dict):
    """Fills ``record`` with the RSS at the start, the peak RSS within the phase (None where the peak
    cannot be reset) and the process's lifetime peak at the end."""
    gc.collect()
    maxrss_mb()  # fold the peak so far into the lifetime peak before the reset lowers ru_maxrss
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        resettable = True
    except OSError:
        resettable = False
    record["rss_start_mb"] = rss_mb()
    yield record
    hwm = _status_kb("VmHWM") if resettable else None
    record["phase_peak_mb"] = None if hwm is None else hwm / 1024
    record["rss_end_mb"] = rss_mb()
    record["proc_peak_mb"] = maxrss_mb()


def observations(n: int, seed: int) -> list[Observation]:
    """``n`` real frames with their prompts: the tasks in turn, seeds seed, seed+1, ..."""
    names = task_names()
    out = []
    with RobotCell() as cell:
        for i in range(n):
            task = load_task(names[i % len(names)])
            inst, image = begin(cell, task, seed + i, "train")
            out.append(observation(task, inst, image))
    return out


def gen_kwargs(policy) -> dict:
    """The kwargs TransformersPolicy passes to generate (greedy here)."""
    cfg = policy.config
    assert not cfg.do_sample, "the benchmark measures greedy generation"
    return dict(max_new_tokens=cfg.max_new_tokens, do_sample=cfg.do_sample)


def interleave_each(cases_of: Callable[[int], dict], reps: int) -> tuple[dict, dict]:
    """Like bench_cell.interleave, with the cases of repetition ``rep`` given by ``cases_of(rep)`` (so
    the two sides of a pair work on the same frame or batch). Wall and process CPU times per case."""
    wall: dict = {}
    cpu: dict = {}
    for rep in range(reps):
        cases = cases_of(rep)
        for k in list(cases) if rep % 2 == 0 else list(cases)[::-1]:
            c0 = time.process_time()
            wall.setdefault(k, []).append(timed(cases[k])[0])
            cpu.setdefault(k, []).append(time.process_time() - c0)
    return wall, cpu


def cpu_over_wall(cpu: dict, wall: dict) -> dict:
    return {k: sum(cpu[k]) / sum(wall[k]) for k in wall}


# --- 1 + 2. generation -----------------------------------------------------------------------------
def bench_generation(policy, obs: list[Observation], reps: int) -> dict:
    import torch

    b = len(obs)
    kw = gen_kwargs(policy)

    def bare(enc):
        with torch.inference_mode():
            return policy.model.generate(**enc, **kw)

    def post(out, enc, batch):
        texts = policy.processor.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True,
                                                        clean_up_tokenization_spaces=False)
        return [parse(t, o.answer_format) for t, o in zip(texts, batch)]

    def full(batch):
        return [parse(t, o.answer_format) for t, o in zip(policy.act_batch(batch), batch)]

    singles = [[o] for o in obs]
    enc1 = [policy.inputs(s) for s in singles]
    encb = policy.inputs(obs)
    out1 = [bare(e) for e in enc1]
    outb = bare(encb)
    new1 = [int(o.shape[1] - e["input_ids"].shape[1]) for o, e in zip(out1, enc1)]
    newb = int(outb.shape[1] - encb["input_ids"].shape[1])
    same1 = [p.text for s, o, e in zip(singles, out1, enc1) for p in post(o, e, s)] == \
        [p.text for s in singles for p in full(s)]
    sameb = [p.text for p in post(outb, encb, obs)] == [p.text for p in full(obs)]

    # 1. act on each observation vs act_batch on all of them
    cases = {"single": lambda: [policy.act(o) for o in obs], "batched": lambda: policy.act_batch(obs)}
    for f in cases.values():
        f()
    wall, cpu = interleave(cases, reps)
    gen = {
        "new_tokens_batch1_mean": sum(new1) / b, "new_tokens_batched": newb,
        "single_ms_per_frame": 1e3 * median(wall["single"]) / b,
        "batched_ms_per_frame": 1e3 * median(wall["batched"]) / b,
        "ratio_batched_over_single_frame_time": paired_ratio(wall["batched"], wall["single"]),
        "cpu_over_wall": sum(cpu["single"] + cpu["batched"]) / sum(wall["single"] + wall["batched"]),
    }

    # 2. full policy step vs bare generate on prepared inputs; prep and post alone. Batch 1 pairs
    # the cases frame by frame (reps x B paired repetitions, frame rep % B), batch B call by call.
    def single_cases(rep: int) -> dict:
        i = rep % b
        return {"full": lambda: full(singles[i]), "bare": lambda: bare(enc1[i]),
                "prep": lambda: policy.inputs(singles[i]), "post": lambda: post(out1[i], enc1[i], singles[i])}

    batch_cases = {"full": lambda: full(obs), "bare": lambda: bare(encb),
                   "prep": lambda: policy.inputs(obs), "post": lambda: post(outb, encb, obs)}
    step = {}
    for label, cases_of, n in (("1", single_cases, reps * b), (str(b), lambda rep: batch_cases, reps)):
        for f in cases_of(0).values():
            f()
        wall, cpu = interleave_each(cases_of, n)
        step[label] = {
            "pairs": n, **{f"{k}_ms": 1e3 * median(v) for k, v in wall.items()},
            "ratio_full_over_bare": paired_ratio(wall["full"], wall["bare"]),
            "same_text": same1 if label == "1" else sameb,
            "cpu_over_wall": sum(sum(v) for v in cpu.values()) / sum(sum(v) for v in wall.values()),
        }
    return {"generation": gen, "step_vs_generate": step}


# --- 3. SFT ----------------------------------------------------------------------------------------
def run_train_sft(model_dir: Path, dataset_dir: Path, out: Path, task: str, lora: bool, steps: int, batch: int,
                  rows: int, seed: int) -> dict:
    from physgen.training.sft import train_sft
    from physgen.training.sft_config import SFTRunConfig

    shutil.copytree(dataset_dir, out / "dataset")
    cfg = SFTRunConfig(task=task, model=str(model_dir), out=out, steps=steps, seed=seed, examples=rows, lora=lora,
                       batch_size=batch, sample_answers=0)
    c0 = time.process_time()
    with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs when tqdm is off
        wall, _ = timed(lambda: train_sft(cfg, progress=False))
    cpu = time.process_time() - c0
    logged = [json.loads(ln) for ln in (out / "log.jsonl").read_text().splitlines()]
    final = next(r for r in reversed(logged) if "train_samples_per_second" in r)
    return {"trainer_samples_per_s": final["train_samples_per_second"], "train_runtime_s": final["train_runtime"],
            "train_sft_wall_s": wall, "cpu_over_wall": cpu / wall, "steps": steps, "batch": batch,
            "final_train_loss": final.get("train_loss")}


def load_trainable(model_dir: Path, lora: bool, seed: int, workdir: Path):
    """(model, optimizer) as train_sft's trainer builds them: float32, LoRA through peft, the
    trainer's optimizer class and kwargs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, Trainer
    from trl import SFTConfig

    from physgen.training.sft_config import SFTRunConfig

    d = SFTRunConfig(task="stability", model=str(model_dir), out=workdir)  # the defaults train_sft uses
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    if lora:
        model = get_peft_model(model, LoraConfig(r=d.lora_rank, lora_alpha=d.lora_alpha, lora_dropout=d.lora_dropout,
                                                 target_modules="all-linear", task_type="CAUSAL_LM"))
    model.train()
    args = SFTConfig(output_dir=str(workdir), learning_rate=d.learning_rate, use_cpu=True, report_to=[])
    cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    params = [p for p in model.parameters() if p.requires_grad]
    return model, cls(params, **kwargs), args.max_grad_norm


def bench_step_split(model_dir: Path, dataset, batch: int, reps: int, seed: int, workdir: Path) -> dict:
    """Collate vs forward+backward+optimizer on the same batches, full and LoRA interleaved."""
    import torch

    from physgen.models.processor import load_processor
    from physgen.training.collate import AnswerOnlyCollator

    collate = AnswerOnlyCollator(load_processor(model_dir))
    row_batches = [[dataset[i] for i in range(s, min(s + batch, len(dataset)))] for s in range(0, len(dataset), batch)]
    row_batches = [r for r in row_batches if len(r) == batch] or row_batches
    batches = [collate(r) for r in row_batches]
    trainables = {m: load_trainable(model_dir, m == "lora", seed, workdir / m) for m in ("full", "lora")}

    def step(mode: str, b) -> None:
        model, opt, max_norm = trainables[mode]
        loss = model(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def cases_of(rep: int) -> dict:
        i = rep % len(batches)
        return {"collate": lambda: collate(row_batches[i]), "full": lambda: step("full", batches[i]),
                "lora": lambda: step("lora", batches[i])}

    for f in cases_of(0).values():  # warm-up
        f()
    wall, cpu = interleave_each(cases_of, reps)
    out = {"batches": len(batches), "rows_per_batch": len(row_batches[0]), "collate_ms": 1e3 * median(wall["collate"]),
           "ratio_lora_over_full_step_time": paired_ratio(wall["lora"], wall["full"]),
           "cpu_over_wall": cpu_over_wall(cpu, wall)}
    n = len(row_batches[0])
    for mode in ("full", "lora"):
        total = [c + s for c, s in zip(wall["collate"], wall[mode])]
        out[mode] = {"step_ms": 1e3 * median(wall[mode]),
                     "collate_share": median([c / t for c, t in zip(wall["collate"], total)]),
                     "direct_samples_per_s": n / median(total)}
    model = trainables["lora"][0]
    out["lora_trainable_params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return out


# --- per recipe ------------------------------------------------------------------------------------
def bench_recipe(name: str, obs: list[Observation], dataset_dir: Path, dataset, args, budget: Budget,
                 tmp: Path) -> dict:
    from physgen.models.recipes import build_model, load_recipe
    from physgen.policy.vlm import TransformersPolicy, VLMConfig

    progress(f"{name}: build ...")
    build_s, model_dir = timed(lambda: build_model(load_recipe(name), tmp / name / "model", seed=args.seed))
    res: dict = {"build_s": build_s, "memory": {}}
    with memory_phase(res["memory"].setdefault("load policy", {})):
        policy = TransformersPolicy(VLMConfig(model=str(model_dir), batch_size=len(obs)))
    params = list(policy.model.parameters())
    res["params"] = sum(p.numel() for p in params)
    res["param_bytes"] = sum(p.numel() * p.element_size() for p in params)
    res["dtype"] = str(policy.dtype).removeprefix("torch.")
    res["processor_image_only"] = policy.image_only
    res["max_new_tokens"] = policy.config.max_new_tokens
    progress(f"{name}: generation ...")
    res.update(bench_generation(policy, obs, budget.gen_reps))
    policy.close()
    del policy, params
    res["sft"] = {}
    for mode in ("full", "lora"):
        progress(f"{name}: train_sft {mode} x{budget.sft_steps} steps ...")
        with memory_phase(res["memory"].setdefault(f"SFT {mode}", {})):
            res["sft"][mode] = run_train_sft(model_dir, dataset_dir, tmp / name / f"sft-{mode}", args.sft_task,
                                             mode == "lora", budget.sft_steps, args.sft_batch, budget.sft_rows,
                                             args.seed)
    progress(f"{name}: step split ...")
    res["step_split"] = bench_step_split(model_dir, dataset, args.sft_batch, budget.step_reps, args.seed,
                                         tmp / name / "split")
    gc.collect()
    return res


# --- report ----------------------------------------------------------------------------------------
def report_generation(r: dict, b: int, budget: Budget) -> list[str]:
    lines = [f"1. Generation latency per frame, greedy  (ms/frame; median of {budget.gen_reps} interleaved reps; "
             f"batch 1 = act() on each of the {b} frames, batched = one act_batch() on the same {b})",
             f"   {'recipe':<16}{'new tok':>8}{'batch 1':>10}{f'batch {b}':>10}{f'batch {b}/1':>11}{'cpu/wall':>10}",
             f"   {'':<16}{'':>8}{'ms/frame':>10}{'ms/frame':>10}{'frame time':>11}"]
    for name, x in r.items():
        g = x["generation"]
        tok = f"{g['new_tokens_batch1_mean']:.0f}/{g['new_tokens_batched']}"
        lines.append(f"   {name:<16}{tok:>8}{g['single_ms_per_frame']:>10.1f}{g['batched_ms_per_frame']:>10.1f}"
                     f"{g['ratio_batched_over_single_frame_time']:>10.2f}x{g['cpu_over_wall']:>10.2f}")
    lines.append("   new tok = tokens generated per frame at batch 1 (mean) / per row at batch "
                 f"{b} (a batch runs until its longest row ends)")
    return lines


def report_step(r: dict, b: int, budget: Budget) -> list[str]:
    lines = [f"2. Full policy step vs bare model.generate on prepared inputs  (medians of interleaved pairs: batch 1 "
             f"ms/frame, {budget.gen_reps} reps x {b} frames; batch {b} ms/call, {budget.gen_reps} reps)",
             "   full = image -> chat prompt -> processor -> generate -> decode -> codec.parse; "
             "bare = model.generate(**inputs);",
             "   prep = policy.inputs (PIL, chat template, processor); post = decode + parse",
             f"   {'recipe':<16}{'batch':>6}{'full ms':>9}{'bare ms':>9}{'full/bare':>10}{'prep ms':>9}{'post ms':>9}"
             f"{'same text':>10}{'cpu/wall':>9}"]
    for name, x in r.items():
        for label, s in x["step_vs_generate"].items():
            lines.append(f"   {name:<16}{label:>6}{s['full_ms']:>9.1f}{s['bare_ms']:>9.1f}"
                         f"{s['ratio_full_over_bare']:>9.3f}x{s['prep_ms']:>9.2f}{s['post_ms']:>9.3f}"
                         f"{'yes' if s['same_text'] else 'NO':>10}{s['cpu_over_wall']:>9.2f}")
    return lines


def report_sft(r: dict, args, budget: Budget) -> list[str]:
    lines = [f"3. SFT throughput  (task {args.sft_task}, {budget.sft_rows} rows, batch {args.sft_batch}, "
             f"{budget.sft_steps} optimizer steps per train_sft run; split: median of {budget.step_reps} "
             "interleaved reps)",
             "   trainer = TRL SFTTrainer via train_sft, train_samples_per_second from log.jsonl (incl. warm-up step "
             "and final checkpoint);",
             "   direct = batch / (collate + step); step = forward + backward + clip + optimizer step",
             f"   {'recipe':<16}{'mode':<6}{'trainer':>11}{'train_sft':>11}{'collate':>10}{'step':>10}{'collate':>9}"
             f"{'direct':>11}{'cpu/wall':>11}",
             f"   {'':<16}{'':<6}{'samples/s':>11}{'wall s':>11}{'ms/batch':>10}{'ms/batch':>10}{'share':>9}"
             f"{'samples/s':>11}{'sft/split':>11}"]
    for name, x in r.items():
        sp = x["step_split"]
        for mode in ("full", "lora"):
            s, d = x["sft"][mode], sp[mode]
            cw = f"{s['cpu_over_wall']:.2f}/{sp['cpu_over_wall'][mode]:.2f}"
            lines.append(f"   {name:<16}{mode:<6}{s['trainer_samples_per_s']:>11.1f}{s['train_sft_wall_s']:>11.1f}"
                         f"{sp['collate_ms']:>10.1f}{d['step_ms']:>10.1f}{100 * d['collate_share']:>8.0f}%"
                         f"{d['direct_samples_per_s']:>11.1f}{cw:>11}")
    lines.append("   step time lora/full (interleaved): " + "   ".join(
        f"{name} {x['step_split']['ratio_lora_over_full_step_time']:.2f}x" for name, x in r.items()))
    return lines


def report_memory(r: dict, base: dict) -> list[str]:
    def mb(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.0f}"

    lines = ["4. Memory  (MiB; proc peak = getrusage ru_maxrss, the process's lifetime peak; phase peak = peak RSS "
             "within the phase, +peak = its growth over RSS at the phase start)",
             f"   before any model (imports, frames, dataset): RSS {mb(base['rss_mb'])}, proc peak "
             f"{mb(base['proc_peak_mb'])}",
             f"   {'recipe':<16}{'params':>9}{'param MiB':>10}{'LoRA train':>11}"]
    for name, x in r.items():
        lines.append(f"   {name:<16}{x['params'] / 1e6:>8.3f}M{x['param_bytes'] / MB:>10.2f}"
                     f"{x['step_split']['lora_trainable_params'] / 1e6:>10.3f}M   ({x['dtype']})")
    lines.append(f"   {'recipe':<16}{'after':<13}{'RSS start':>10}{'phase peak':>11}{'+peak':>7}{'RSS end':>9}"
                 f"{'proc peak':>10}")
    for name, x in r.items():
        for phase, m in x["memory"].items():
            grow = None if m["phase_peak_mb"] is None or m["rss_start_mb"] is None else \
                m["phase_peak_mb"] - m["rss_start_mb"]
            lines.append(f"   {name:<16}{phase:<13}{mb(m['rss_start_mb']):>10}{mb(m['phase_peak_mb']):>11}"
                         f"{mb(grow):>7}{mb(m['rss_end_mb']):>9}{mb(m['proc_peak_mb']):>10}")
    return lines


def environment(threads: int) -> dict:
    import peft
    import torch
    import transformers
    import trl

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "trl": trl.__version__, "peft": peft.__version__, "torch_threads": threads,
            "machine": platform.machine(), "system": platform.system(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (~30-60 s): 3 reps, 5 SFT steps, 1 SFT batch")
    ap.add_argument("--batch", type=int, default=8, help="observations per batched generate call (default 8)")
    ap.add_argument("--sft-batch", type=int, default=8, help="SFT rows per optimizer step (default 8)")
    ap.add_argument("--sft-steps", type=int, default=None, help="optimizer steps per train_sft run (30; 5 --quick)")
    ap.add_argument("--sft-task", default="stability", choices=task_names(), help="SFT dataset task")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: per-core rates)")
    ap.add_argument("--seed", type=int, default=0, help="model weights, first frame seed, SFT seed (default 0)")
    ap.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = ap.parse_args(argv)
    for flag in ("batch", "sft_batch", "threads", "sft_steps"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            ap.error(f"--{flag.replace('_', '-')} {v}: expected a positive integer")
    budget = Budget.quick(args.sft_batch) if args.quick else Budget(sft_rows=2 * args.sft_batch)
    if args.sft_steps:
        budget = dataclasses.replace(budget, sft_steps=args.sft_steps)

    offline()  # HF_HUB_OFFLINE=1 and friends, before anything Hugging Face is imported
    import torch

    from physgen.training import datasets as tds
    from physgen.training.sft_config import SFTRunConfig

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    results: dict = {"env": environment(args.threads), "budget": dataclasses.asdict(budget),
                     "args": {k: v for k, v in vars(args).items() if k != "json"}, "recipes": {}}
    with tempfile.TemporaryDirectory(prefix="bench-vlm-") as tmpdir, c_stdout_captured():
        tmp = Path(tmpdir)
        progress(f"rendering {args.batch} frames, building a {budget.sft_rows}-row {args.sft_task} dataset ...")
        obs = observations(args.batch, args.seed)
        seeds = SFTRunConfig(task=args.sft_task, model="-", out=tmp, examples=budget.sft_rows).dataset_seeds
        dataset = tds.build([args.sft_task], seeds, tmp / "dataset")
        gc.collect()
        results["baseline_memory"] = {"rss_mb": rss_mb(), "proc_peak_mb": maxrss_mb()}
        for name in RECIPES:
            results["recipes"][name] = bench_recipe(name, obs, tmp / "dataset", dataset, args, budget, tmp)
    results["wall_s"] = time.perf_counter() - t0

    env, r = results["env"], results["recipes"]
    print(f"physgen VLM benchmark  python {env['python']}  torch {env['torch']}  transformers {env['transformers']}  "
          f"trl {env['trl']}  peft {env['peft']}  {env['system']}/{env['machine']} {env['cpus']} cpus  "
          f"{env['date']}")
    print(f"CPU, one process, torch threads {args.threads}; tiny recipes built with seed {args.seed}; frames: "
          f"{args.batch} x 224x224, tasks in turn, seeds {args.seed}..{args.seed + args.batch - 1}; max_new_tokens "
          f"{next(iter(r.values()))['max_new_tokens']}, greedy")
    print_tables([report_generation(r, args.batch, budget), report_step(r, args.batch, budget),
                  report_sft(r, args, budget), report_memory(r, results["baseline_memory"])], results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
