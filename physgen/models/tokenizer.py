"""Tokenizers for tiny models, trained on the task suite's own text.

A byte-level BPE (any text encodes and decodes back exactly) with the pre-tokenizer of Qwen2 and
SmolLM2 (single digits, words keep their leading space), trained with the ``tokenizers`` library on:
every task's prompts (train split), every canonical answer the codec can render, colour names,
digits, and whatever ``extra_texts`` the caller adds (for example the generic caption data of the
visual pre-training stage). The architecture's special tokens take the first ids, in the given order.
Training is deterministic given the inputs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from physgen.cell.scene import COLOURS
from physgen.tasks.codec import AnswerFormat, render

# Qwen2's split: contractions, words with one leading non-letter, single digits, punctuation runs, spaces.
SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Answers count twice, so that min_frequency 2 lets whole answer words ("yes", "left") become tokens.
ANSWER_REPEATS = 2


@dataclass(frozen=True)
class SpecialTokens:
    """An architecture's special tokens (``tokens``, in id order) and which of them play which role."""

    tokens: tuple[str, ...]
    eos: str
    pad: str
    bos: str | None = None
    unk: str | None = None

    def __post_init__(self) -> None:
        for role in ("eos", "pad", "bos", "unk"):
            tok = getattr(self, role)
            if tok is not None and tok not in self.tokens:
                raise ValueError(f"special token {role}={tok!r} is not among {self.tokens}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError(f"special tokens repeat: {self.tokens}")


def canonical_answers(fmt: AnswerFormat) -> list[str]:
    """Every text the codec renders for ``fmt``: each choice, or each integer (tuple) in range."""
    if fmt.kind == "choice":
        return [render(c, fmt) for c in fmt.choices]
    values = range(fmt.low, fmt.high + 1)
    return [render(v, fmt) for v in itertools.product(values, repeat=fmt.count)]


def suite_texts(task_seeds: int) -> list[str]:
    """The task suite's text: prompts of ``task_seeds`` train-split instances per task (each distinct
    prompt once), answer-format descriptions, canonical answers and colours (bare and after a space,
    ``ANSWER_REPEATS`` times), digits, and the generic pre-training (caption) questions."""
    from physgen.tasks import load_task, task_names
    from physgen.tasks.captions import caption_texts

    texts: list[str] = []
    for name in task_names():
        task = load_task(name)
        fmt = task.answer_format
        texts += dict.fromkeys(task.sample(seed, "train").prompt for seed in range(task_seeds))
        texts.append(fmt.describe())
        answers = canonical_answers(fmt)
        texts += (answers + [" " + a for a in answers]) * ANSWER_REPEATS
    texts += (list(COLOURS) + [" " + c for c in COLOURS]) * ANSWER_REPEATS
    texts += [str(d) for d in range(10)]
    texts += dict.fromkeys(caption_texts(range(task_seeds)))  # the generic pre-training questions
    return texts


def train_tokenizer(texts: Iterable[str], vocab_size: int, special: SpecialTokens, min_frequency: int = 2):
    """A ``tokenizers.Tokenizer`` trained on ``texts`` (deterministic for the same texts in the same order)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(special.tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer)
    return tok


def build_tokenizer(texts: Sequence[str], vocab_size: int, special: SpecialTokens, chat_template: str,
                    model_max_length: int, min_frequency: int = 2):
    """Train on ``texts`` and wrap as a transformers ``PreTrainedTokenizerFast`` with the roles of
    ``special``, the others as extra special tokens, and ``chat_template``."""
    from transformers import PreTrainedTokenizerFast

    tok = train_tokenizer(texts, vocab_size, special, min_frequency)
    roles = {f"{r}_token": getattr(special, r) for r in ("bos", "eos", "pad", "unk") if getattr(special, r)}
    extra = [t for t in special.tokens if t not in roles.values()]
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=model_max_length, extra_special_tokens=extra,
        clean_up_tokenization_spaces=False, **roles,
    )
    fast.chat_template = chat_template
    for t in special.tokens:  # the trainer gives special tokens the first ids, in order
        if fast.convert_tokens_to_ids(t) != special.tokens.index(t):
            raise RuntimeError(f"special token {t!r} did not get id {special.tokens.index(t)}")
    return fast
