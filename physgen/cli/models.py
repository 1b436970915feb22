"""`physgen model`: build and list model recipes."""

from __future__ import annotations

import time
from pathlib import Path


def add(sub) -> None:
    """Add this group's commands to the `physgen` subparsers ``sub``."""
    s = sub.add_parser("model", help="build or list model recipes (models/*.yaml)")
    msub = s.add_subparsers(dest="model_command", required=True)
    m = msub.add_parser("build", help="build a tiny recipe's model locally (tokenizer, processor, random weights)")
    m.add_argument("recipe", help="a recipe name or YAML path")
    m.add_argument("--out", type=Path, help="directory (default: the model cache, models/checkpoints/)")
    m.add_argument("--seed", type=int, help="weights seed (default: the recipe's)")
    m.set_defaults(func=cmd_model_build)
    m = msub.add_parser("list", help="list the recipes")
    m.set_defaults(func=cmd_model_list)


def cmd_model_build(args) -> int:
    from physgen.models.recipes import build_model, load_recipe, resolve_model

    recipe = load_recipe(args.recipe)
    t0 = time.perf_counter()
    path = build_model(recipe, args.out, args.seed) if args.out else resolve_model(recipe, seed=args.seed)
    print(f"built {recipe.name} ({recipe.architecture}) in {time.perf_counter() - t0:.1f} s: {path}")
    return 0


def cmd_model_list(args) -> int:
    from physgen.models.recipes import load_recipe, recipe_names

    for name in recipe_names():
        r = load_recipe(name)
        print(f"{name:<28} [{r.source}] {r.architecture}: {r.description}")
    return 0
