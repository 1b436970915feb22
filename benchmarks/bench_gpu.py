"""A realistic-size VLM on one GPU: build, policy answers, SFT (LoRA r16) and GRPO (16 completions) of
Qwen2.5-VL-3B's (or 7B's) layer sizes with random weights, through physgen's own entry points; per
stage the wall time, the throughput and the peak GPU memory.

Model: the recipe models/qwen2.5-vl-3b-random.yaml (--model 3b, the default) or
qwen2.5-vl-7b-random.yaml (--model 7b), or any recipe name or file: the real checkpoints' layer sizes
(3.75 B / 8.29 B parameters), a tokenizer trained on the task suite's text, random weights from
--seed. Nothing is downloaded (physgen's offline(): HF_HUB_OFFLINE=1) and no checkpoint is needed.

Stages, in one process, in this order. Each stage's peak GPU memory is torch.cuda.max_memory_allocated
(and _reserved) after torch.cuda.reset_peak_memory_stats at its start; the GPU is synchronised before
every clock read. "wall s" is the whole stage, "timed s" the part the rate is computed on.

1. build - physgen.models.recipes.build_model(recipe, DIR, seed, device="cuda", dtype="bfloat16"):
   tokenizer training, random initialisation on the GPU in bfloat16, saving (7.5 GB for 3B, 16.6 GB
   for 7B). Rate: parameters per second of the whole call.
2. policy - TransformersPolicy(VLMConfig(model=DIR, batch_size=--batch)): loaded in bfloat16 on CUDA
   (VLMConfig's dtype auto), greedy, max_new_tokens 16 (VLMConfig's defaults). Observations are
   --answers real frames rendered before the stage (RobotCell + episode.begin/observation, the tasks
   in turn, seeds --seed + i, train split, 224x224 TinyRenderer). One act_batch on the first --batch
   frames warms up; then ONE act_batch on all --answers frames (--answers / --batch generate calls)
   is timed. Rate: new tokens per second, counted as rows x decode steps of each generate call (a
   batch runs until its longest row ends; random weights rarely stop before max_new_tokens), and
   answers per second.
3. sft - physgen.training.sft.train_sft, LoRA with SFTRunConfig's defaults (rank 16, alpha 32, all
   linear layers; float32 master weights, bf16 autocast on CUDA), --sft-batch rows per optimizer step
   of task --task (2 x --sft-batch scenes, cycled), --sft-steps steps. Rate: samples (rows) per second
   over the steps after the first (the first carries the warm-up), each step timed by a trainer
   callback from on_step_begin to on_step_end; tokens per second from SFTTrainer's num_tokens (every
   input token of the rows, image tokens included) over the same steps.
4. grpo - physgen.training.grpo.train_grpo, LoRA with GRPORunConfig's defaults (rank 16, beta 0.04
   against the adapter-free model, one reward worker process executing every completion in the
   robot cell), --completions completions (the group) of one training scene per step,
   max_completion_length 16, --grpo-steps steps; generation with transformers, or with --vllm in
   TRL's vLLM colocate mode (vLLM in this process sharing the GPU, gpu_memory_utilization 0.3;
   GRPORunConfig itself only has the server mode, so the benchmark adds these TRL arguments to
   train_grpo's). Rate: completions per second over the steps after the first, timed as for SFT,
   and the split of those steps into generation, reward and update from train_grpo's log.jsonl.

Both training stages stop through that callback right after their last step (the run is configured
one step longer and stopped as a shutdown stops it), so train_sft / train_grpo return before merging
the LoRA into a float32 model and saving it (15 GB for 3B, 33 GB for 7B: disk time, not training);
nothing else of their path is skipped. They load the model in float32 as they always do (host RAM:
15 GB for 3B, 33 GB for 7B, before it moves to the GPU).

Budget: the defaults (64 answers at batch 16, 10 SFT steps of 8 rows, 5 GRPO steps of 16 completions)
are sized to stay under 8 minutes on one H100/H200-class GPU with the 7B recipe. Estimated, not
measured (written on a machine without a GPU): 3B about 2-3 min, 7B about 4-5 min, most of it writing
and reading the weights.

Without CUDA it exits 2 with one line saying so. --tiny runs the same code path on the CPU with the
tiny recipe qwen2.5-vl-tiny-random (the same architecture at 0.8 M parameters, float32) and small
budgets, in under a minute on two cores; the unit test runs it. Progress goes to stderr, the table to
stdout.

    .venv/bin/python benchmarks/bench_gpu.py [--model 3b|7b|RECIPE] [--vllm] [--json PATH]
    .venv/bin/python benchmarks/bench_gpu.py --tiny [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench_cell import c_stdout_captured, print_tables, progress

from physgen.models.hub import offline
from physgen.tasks import task_names

MODELS = {"3b": "qwen2.5-vl-3b-random", "7b": "qwen2.5-vl-7b-random"}
TINY_RECIPE = "qwen2.5-vl-tiny-random"
NEVER = 1_000_000  # save_steps: no trainer checkpoint within the run
VLLM_MEMORY = 0.3  # TRL's default share of the GPU for vLLM in colocate mode
VLLM_MAX_LEN = 4096  # prompt (about 150 tokens with the image) + completion, with room to spare
GIB = 1024**3


@dataclasses.dataclass(frozen=True)
class Budget:
    answers: int = 64
    batch: int = 16
    sft_steps: int = 10
    sft_batch: int = 8
    grpo_steps: int = 5
    completions: int = 16

    @classmethod
    def tiny(cls) -> Budget:
        return cls(answers=8, batch=4, sft_steps=3, sft_batch=4, grpo_steps=3)


# --- measuring ---------------------------------------------------------------------------------------
class Device:
    """Clock reads synchronised with the GPU, and the per-stage peak of its memory (None on the CPU)."""

    def __init__(self, name: str):
        import torch

        self.name, self.torch = name, torch
        self.cuda = name == "cuda"

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def now(self) -> float:
        self.sync()
        return time.perf_counter()

    def free(self) -> None:
        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()

    @contextlib.contextmanager
    def stage(self, record: dict):
        """Fills ``record`` with the stage's wall time and peak GPU memory (GiB)."""
        self.free()
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()
        t0 = self.now()
        yield record
        record["wall_s"] = self.now() - t0
        cuda = self.torch.cuda
        record["peak_gpu_gib"] = cuda.max_memory_allocated() / GIB if self.cuda else None
        record["peak_gpu_reserved_gib"] = cuda.max_memory_reserved() / GIB if self.cuda else None


def step_clock(device: Device, steps: int):
    """A trainer callback timing every optimizer step (on_step_begin to on_step_end) that stops the run
    after ``steps`` steps: a run configured for ``steps + 1`` then returns before its final save."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self._t0 = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._t0 = device.now()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(device.now() - self._t0)
            if state.global_step >= steps:
                control.should_training_stop = True

    return StepClock()


class TokenCount:
    """Wraps ``model.generate``: counts prompt tokens (attention mask) and new tokens (rows x decode
    steps) of every call."""

    def __init__(self, model):
        self.generate = model.generate
        self.prompt = self.new = self.rows = 0
        model.generate = self

    def __call__(self, **kwargs):
        out = self.generate(**kwargs)
        ids = kwargs["input_ids"]
        self.prompt += int(kwargs["attention_mask"].sum())
        self.new += int(out.shape[0] * (out.shape[1] - ids.shape[1]))
        self.rows += int(out.shape[0])
        return out

    def reset(self) -> None:
        self.prompt = self.new = self.rows = 0


def log_lines(out: Path) -> list[dict]:
    path = out / "log.jsonl"
    return [json.loads(ln) for ln in path.read_text().splitlines()] if path.is_file() else []


@contextlib.contextmanager
def vllm_colocate():
    """train_grpo in TRL's vLLM colocate mode: its TRL arguments plus use_vllm and vllm_mode."""
    from physgen.training import grpo

    plain = grpo.trl_args

    def with_vllm(cfg, progress: bool = True) -> dict:
        return {**plain(cfg, progress), "use_vllm": True, "vllm_mode": "colocate",
                "vllm_gpu_memory_utilization": VLLM_MEMORY, "vllm_max_model_length": VLLM_MAX_LEN}

    grpo.trl_args = with_vllm
    try:
        yield
    finally:
        grpo.trl_args = plain


# --- stages ------------------------------------------------------------------------------------------
def stage_build(recipe, out: Path, seed: int, device: Device) -> dict:
    from physgen.models.recipes import build_model

    dtype = "bfloat16" if device.cuda else "float32"
    r: dict = {"dtype": dtype}
    with device.stage(r):
        build_model(recipe, out, seed=seed, device=device.name, dtype=dtype)
    info = json.loads((out / "physgen_build.json").read_text())
    r.update(timed_s=r["wall_s"], params=info["parameters"], vocab_size=info["vocab_size"],
             image_tokens=info["image_tokens"], saved_gb=sum(f.stat().st_size for f in out.glob("*.safetensors")) / 1e9)
    r.update(rate=r["params"] / r["timed_s"], unit="params/s")
    return r


def stage_policy(model_dir: Path, obs: list, batch: int, device: Device) -> dict:
    from physgen.policy.vlm import TransformersPolicy, VLMConfig

    r: dict = {"answers": len(obs), "batch": batch}
    with device.stage(r):
        t0 = device.now()
        policy = TransformersPolicy(VLMConfig(model=str(model_dir), batch_size=batch, device=device.name))
        r["load_s"] = device.now() - t0
        count = TokenCount(policy.model)
        policy.act_batch(obs[:batch])  # warm-up
        count.reset()
        t0 = device.now()
        answers = policy.act_batch(obs)
        r["timed_s"] = device.now() - t0
        r.update(dtype=str(policy.dtype).removeprefix("torch."), new_tokens=count.new, prompt_tokens=count.prompt,
                 max_new_tokens=policy.config.max_new_tokens, sample=answers[0])
        policy.close()
    r.update(rate=r["new_tokens"] / r["timed_s"], unit="tokens/s", answers_per_s=len(obs) / r["timed_s"])
    return r


def stage_sft(model_dir: Path, out: Path, cache: Path, task: str, budget: Budget, seed: int, device: Device) -> dict:
    from physgen.training.sft import train_sft
    from physgen.training.sft_config import SFTRunConfig

    cfg = SFTRunConfig(task=task, model=str(model_dir), out=out, steps=budget.sft_steps + 1, seed=seed,
                       examples=2 * budget.sft_batch, batch_size=budget.sft_batch, sample_answers=0,
                       save_steps=NEVER, logging_steps=1, dataset_cache=str(cache))
    clock = step_clock(device, budget.sft_steps)
    r: dict = {"steps": budget.sft_steps, "batch": budget.sft_batch, "lora_rank": cfg.lora_rank}
    with device.stage(r), contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs when tqdm is off
        train_sft(cfg, progress=False, callbacks=[clock])
    timed = clock.times[1:]
    r.update(step_s=clock.times, timed_s=sum(timed), rate=budget.sft_batch * len(timed) / sum(timed), unit="samples/s")
    tokens = [ln["num_tokens"] for ln in log_lines(out) if "num_tokens" in ln]
    if len(tokens) >= len(clock.times):  # cumulative, one per step: the timed steps' share
        r["tokens_per_s"] = (tokens[len(clock.times) - 1] - tokens[0]) / r["timed_s"]
    return r


def stage_grpo(model_dir: Path, out: Path, cache: Path, task: str, budget: Budget, seed: int, device: Device,
               vllm: bool) -> dict:
    from physgen.training.grpo import train_grpo
    from physgen.training.grpo_config import GRPORunConfig

    cfg = GRPORunConfig(task=task, model=str(model_dir), out=out, steps=budget.grpo_steps + 1, seed=seed,
                        examples=budget.grpo_steps + 1, num_generations=budget.completions, save_steps=NEVER,
                        logging_steps=1, dataset_cache=str(cache))
    clock = step_clock(device, budget.grpo_steps)
    r: dict = {"steps": budget.grpo_steps, "completions": budget.completions, "lora_rank": cfg.lora_rank,
               "max_completion_length": cfg.max_completion_length, "generation": "vllm colocate" if vllm else "hf",
               "reward_workers": cfg.reward_workers}
    generation = vllm_colocate() if vllm else contextlib.nullcontext()
    with device.stage(r), contextlib.redirect_stdout(sys.stderr), generation:
        train_grpo(cfg, progress=False, callbacks=[clock])
    timed = clock.times[1:]
    r.update(step_s=clock.times, timed_s=sum(timed), rate=budget.completions * len(timed) / sum(timed),
             unit="completions/s")
    lines = [ln for ln in log_lines(out) if "generation_s" in ln and ln["step"] > 1]
    for k in ("generation_s", "reward_s", "update_s"):
        r[k] = sum(float(ln[k]) for ln in lines) / len(lines) if lines else None
    lengths = [float(ln["completions/mean_length"]) for ln in lines if "completions/mean_length" in ln]
    if lengths and r["generation_s"]:
        r["generation_tokens_per_s"] = budget.completions * (sum(lengths) / len(lengths)) / r["generation_s"]
    return r


# --- report ------------------------------------------------------------------------------------------
def gib(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def report(res: dict, budget: Budget) -> list[str]:
    s = res["stages"]
    b, p, t, g = s["build"], s["policy"], s["sft"], s["grpo"]
    sft_tok = f", {t['tokens_per_s']:.0f} tok/s" if "tokens_per_s" in t else ""
    gen_tok = f"; generation {g['generation_tokens_per_s']:.0f} tok/s" if "generation_tokens_per_s" in g else ""
    split = ("  split per step: " + ", ".join(f"{k.removesuffix('_s')} {g[k]:.2f} s" for k in
                                              ("generation_s", "reward_s", "update_s") if g[k] is not None)
             if g.get("generation_s") is not None else "")
    rows = [
        ("build", b, f"{b['rate'] / 1e6:.0f} M params/s",
         f"build_model on {res['device']} in {b['dtype']}: tokenizer, random init, save {b['saved_gb']:.2f} GB"),
        ("policy", p, f"{p['rate']:.0f} tok/s, {p['answers_per_s']:.1f} answers/s",
         f"load {p['load_s']:.1f} s; one act_batch of {p['answers']} frames at batch {p['batch']}, "
         f"{p['max_new_tokens']} new tokens each ({p['dtype']}, greedy)"),
        ("sft", t, f"{t['rate']:.1f} samples/s{sft_tok}",
         f"train_sft LoRA r{t['lora_rank']}: {t['steps']} steps x {t['batch']} rows, steps 2-{t['steps']} timed"),
        ("grpo", g, f"{g['rate']:.1f} completions/s",
         f"train_grpo LoRA r{g['lora_rank']} ({g['generation']} generation): {g['steps']} steps x "
         f"{g['completions']} completions, steps 2-{g['steps']} timed{gen_tok}"),
    ]
    lines = ["Stages  (peak GPU = torch.cuda.max_memory_allocated / _reserved within the stage, GiB; "
             "timed = the part the rate is computed on)",
             f"   {'stage':<8}{'wall s':>8}{'timed s':>9}  {'throughput':<32}{'peak GPU':>9}{'reserved':>9}   what"]
    for name, x, rate, what in rows:
        lines.append(f"   {name:<8}{x['wall_s']:>8.1f}{x['timed_s']:>9.2f}  {rate:<32}{gib(x['peak_gpu_gib']):>9}"
                     f"{gib(x['peak_gpu_reserved_gib']):>9}   {what}")
    if split:
        lines.append(f"   grpo{split} (train_grpo's log.jsonl, steps 2-{g['steps']})")
    lines.append(f"   policy sample answer (random weights): {p['sample']!r}")
    return lines


def environment(device: Device) -> dict:
    import peft
    import torch
    import transformers
    import trl

    env = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
           "trl": trl.__version__, "peft": peft.__version__, "machine": platform.machine(),
           "system": platform.system(), "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    if device.cuda:
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_memory_gib=props.total_memory / GIB, cuda=torch.version.cuda)
    if importlib.util.find_spec("vllm") is not None:
        from importlib.metadata import version

        env["vllm"] = version("vllm")
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None,
                    help="3b (default), 7b, or a recipe name or file (default with --tiny: " + TINY_RECIPE + ")")
    ap.add_argument("--tiny", action="store_true",
                    help="the same code path on the CPU: tiny recipe, float32, small budgets (under a minute)")
    ap.add_argument("--vllm", action="store_true", help="GRPO generates with TRL's vLLM colocate mode (needs vllm)")
    ap.add_argument("--answers", type=int, default=None, help="frames answered in the timed act_batch (64; 8 --tiny)")
    ap.add_argument("--batch", type=int, default=None, help="policy batch size (16; 4 --tiny)")
    ap.add_argument("--sft-steps", type=int, default=None, help="SFT optimizer steps, the first untimed (10; 3 --tiny)")
    ap.add_argument("--sft-batch", type=int, default=None, help="SFT rows per step (8; 4 --tiny)")
    ap.add_argument("--grpo-steps", type=int, default=None, help="GRPO steps, the first untimed (5; 3 --tiny)")
    ap.add_argument("--completions", type=int, default=None, help="GRPO completions per prompt (16)")
    ap.add_argument("--task", default="stability", choices=task_names(), help="SFT and GRPO task (default stability)")
    ap.add_argument("--seed", type=int, default=0, help="weights, frames, scenes and training seed (default 0)")
    ap.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = ap.parse_args(argv)
    budget = Budget.tiny() if args.tiny else Budget()
    budget = dataclasses.replace(budget, **{k: getattr(args, k) for k in
                                            ("answers", "batch", "sft_steps", "sft_batch", "grpo_steps", "completions")
                                            if getattr(args, k) is not None})
    for flag, v, low in (("answers", budget.answers, 1), ("batch", budget.batch, 1), ("sft-steps", budget.sft_steps, 2),
                         ("sft-batch", budget.sft_batch, 1), ("grpo-steps", budget.grpo_steps, 2),
                         ("completions", budget.completions, 2)):
        if v < low:
            ap.error(f"--{flag} {v}: expected an integer >= {low}")
    model = args.model or (TINY_RECIPE if args.tiny else "3b")
    recipe_name = MODELS.get(model, model)

    offline()  # HF_HUB_OFFLINE=1 and friends, before anything Hugging Face is imported
    import torch

    if not args.tiny and not torch.cuda.is_available():
        print(f"bench_gpu.py: CUDA is not available here, and {recipe_name} is built and trained on one GPU; "
              "to run the same code path at a tiny size on the CPU: python benchmarks/bench_gpu.py --tiny",
              file=sys.stderr)
        return 2
    if args.vllm and importlib.util.find_spec("vllm") is None:
        print("bench_gpu.py: --vllm needs vllm, which is not installed here (pip install vllm); without --vllm "
              "GRPO generates with transformers", file=sys.stderr)
        return 2
    if args.vllm and args.tiny:
        print("bench_gpu.py: --vllm needs CUDA (vLLM generates on the GPU); --tiny runs on the CPU", file=sys.stderr)
        return 2

    from physgen.models.recipes import load_recipe

    recipe = load_recipe(recipe_name)
    if not recipe.tiny:
        ap.error(f"--model {model}: recipe {recipe.name} is a hub preset; this benchmark builds a recipe "
                 "(source: tiny) with random weights")
    if args.tiny and recipe.name in MODELS.values():
        ap.error(f"--model {model} with --tiny: {recipe.name} is built on a GPU; --tiny runs on the CPU with a "
                 f"tiny recipe ({TINY_RECIPE}, tiny-qwen2-vl, tiny-idefics3)")
    device = Device("cpu" if args.tiny else "cuda")
    from bench_vlm import observations

    t0 = time.perf_counter()
    results: dict = {"env": environment(device), "device": device.name, "recipe": recipe.name,
                     "architecture": recipe.architecture, "budget": dataclasses.asdict(budget),
                     "args": {k: v for k, v in vars(args).items() if k != "json"}, "stages": {}}
    stages = results["stages"]
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmpdir, c_stdout_captured():
        tmp = Path(tmpdir)
        model_dir = tmp / "model"
        progress(f"build: {recipe.name} on {device.name} ...")
        stages["build"] = stage_build(recipe, model_dir, args.seed, device)
        progress(f"policy: rendering {budget.answers} frames, then act_batch at batch {budget.batch} ...")
        obs = observations(budget.answers, args.seed)
        stages["policy"] = stage_policy(model_dir, obs, budget.batch, device)
        progress(f"sft: train_sft LoRA, {budget.sft_steps} steps x {budget.sft_batch} rows ...")
        stages["sft"] = stage_sft(model_dir, tmp / "sft", tmp / "rows", args.task, budget, args.seed, device)
        progress(f"grpo: train_grpo LoRA, {budget.grpo_steps} steps x {budget.completions} completions ...")
        stages["grpo"] = stage_grpo(model_dir, tmp / "grpo", tmp / "rows", args.task, budget, args.seed, device,
                                    args.vllm)
    results["wall_s"] = time.perf_counter() - t0

    env, b = results["env"], stages["build"]
    where = (f"{env['gpu']} ({env['gpu_memory_gib']:.0f} GiB, CUDA {env['cuda']})" if device.cuda
             else f"CPU ({env['cpus']} cpus; --tiny)")
    print(f"physgen GPU benchmark  python {env['python']}  torch {env['torch']}  transformers {env['transformers']}  "
          f"trl {env['trl']}  peft {env['peft']}{'  vllm ' + env['vllm'] if 'vllm' in env else ''}  "
          f"{env['system']}/{env['machine']}  {env['date']}")
    size = f"{b['params'] / 1e9:.3f} B" if b["params"] >= 1e8 else f"{b['params'] / 1e6:.2f} M"
    print(f"{recipe.name} ({recipe.architecture}, {size} parameters, random weights seed "
          f"{args.seed}, tokenizer of {b['vocab_size']} tokens, {b['image_tokens']} image tokens per frame) on "
          f"{where}; task {args.task}")
    print_tables([report(results, budget)], results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
