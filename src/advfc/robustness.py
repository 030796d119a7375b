"""The frozen robustness set: held-out items with rule-based, value-preserving perturbations.

It does not depend on any model, so every run and every baseline is measured on the same queries:
conversational filler, an irrelevant detail, indirect phrasing and a typo in an ordinary word
(never inside a gold value). An item is kept only if every value the original states survives.
"""

from __future__ import annotations

import hashlib
import re

from .data import Example, load_bfcl
from .io import atomic_write_json
from .validity import appears, numbers_in, preserved_literals

OPENERS = ("Hey there! ", "Hi, quick question. ", "Good morning! ", "Hello again. ")
DETAILS = (
    " I'm asking because a colleague brought it up at lunch today.",
    " By the way, it's been raining here all week.",
    " This is for a small side project of mine.",
    " My manager wants it before the meeting.",
)
INDIRECT = ("I was wondering if you could help with this: ", "Could you maybe sort this out for me? ", "")


def _pick(options: tuple[str, ...], key: str) -> str:
    return options[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(options)]


def _typo(text: str, example: Example, key: str) -> str:
    """Swap two inner letters of one ordinary word (long, alphabetic, not part of a gold value)."""
    protected = " ".join(str(v) for _, alts in preserved_literals(example) for v in alts).lower()
    words = [m for m in re.finditer(r"[A-Za-z]{6,}", text) if m.group(0).lower() not in protected]
    if not words:
        return text
    m = words[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(words)]
    w = m.group(0)
    return text[: m.start()] + w[0] + w[2] + w[1] + w[3:] + text[m.end():]


def perturb(example: Example) -> Example | None:
    """The perturbed twin of a held-out item, or None if a stated value would not survive."""
    q = example.query
    body = q[0].lower() + q[1:] if q[:1].isupper() and q[1:2].islower() else q
    text = _pick(OPENERS, example.id) + _pick(INDIRECT, example.id + "i") + body + _pick(DETAILS, example.id + "d")
    text = _typo(text, example, example.id + "t")
    nums = numbers_in(text)
    if not all(any(appears(v, text, nums) for v in alts) for _, alts in preserved_literals(example)):
        return None
    return example.with_query(text, id=f"{example.id}#robust")


def robustness_set(categories: list[str], per_category: int) -> list[tuple[Example, Example]]:
    """(clean, perturbed) pairs: the first `per_category` held-out items of each category that
    perturb cleanly, in split order (the same items every run)."""
    from .split import load_split

    split = load_split()
    pairs = []
    for category in categories:
        held = set(split.eval.get(category, []))
        taken = 0
        for example in load_bfcl(category):
            if taken >= per_category:
                break
            if example.id not in held:
                continue
            twin = perturb(example)
            if twin is not None:
                pairs.append((example, twin))
                taken += 1
    return pairs


def evaluate_robustness(generator, config, pairs: list[tuple[Example, Example]]) -> dict:
    """F's accuracy on the clean items and on their perturbed twins (same generation settings)."""
    from .evaluation import claim_folder, generate_category, run_record, score_category

    out = config.out_dir()
    claim_folder(out, run_record(config, generator.describe()))
    examples = [e for pair in pairs for e in pair]
    generate_category(generator, config, out, "robustness", examples)
    valid = {v["id"]: v["valid"] for v in score_category(out, "robustness", examples)}
    by_category: dict[str, list[tuple[bool, bool]]] = {}
    for clean, twin in pairs:
        by_category.setdefault(clean.category, []).append((valid[clean.id], valid[twin.id]))

    def rates(items):
        n = len(items)
        return {"items": n, "clean": sum(c for c, _ in items) / n, "perturbed": sum(p for _, p in items) / n}

    every = [x for items in by_category.values() for x in items]
    result = {**rates(every), "categories": {c: rates(items) for c, items in by_category.items()}} if every else {"items": 0}
    atomic_write_json(out / "robustness.json", result)
    return result
