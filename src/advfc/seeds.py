"""The seed pool a run attacks and trains on, and its warm-start sample.

Seeds come from the train side of the split (never an evaluation id), or from xLAM / OpenAI-tools
files; seeds whose FC prompt exceeds `max_prompt_tokens` are skipped (training cost grows with
prompt length, and BFCL prompts with many tools run past a thousand tokens).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from .data import Example, load_bfcl_ids, load_openai_jsonl, load_xlam
from .prompts import fc_messages, render_chat


def _order(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def load_examples(config) -> list[Example]:
    source = config.train_data
    if source == "bfcl":
        from .split import load_split

        split = load_split()
        return load_bfcl_ids([i for c in config.train_categories for i in split.train.get(c, [])])
    if source.startswith("openai:"):
        return load_openai_jsonl(source.removeprefix("openai:"))
    return load_xlam(source)


def load_seed_pool(config, tokenizer, warn=None, examples: list[Example] | None = None) -> list[Example]:
    """The seeds that fit `max_prompt_tokens`, from `examples` (default: the config's train data)."""
    examples = load_examples(config) if examples is None else examples
    texts = [render_chat(tokenizer, fc_messages(e)) for e in examples]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    pool = [e for e, n in zip(examples, lengths) if n <= config.max_prompt_tokens]
    pool.sort(key=lambda e: _order(config.seed, e.id))
    if config.max_seeds is not None:
        pool = stratified(pool, config.max_seeds)
    if warn is not None:
        before = {e.category for e in examples}
        missing = sorted(before - {e.category for e in pool})
        if missing:
            warn(f"no seed of {', '.join(missing)} fits max_prompt_tokens={config.max_prompt_tokens}; "
                 "the run continues without them")
    return pool


def stratified(examples: list[Example], n: int) -> list[Example]:
    """n examples taking categories in turn, so small categories (parallel, irrelevance) appear."""
    by_cat: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        by_cat[e.category].append(e)
    queues = [list(v) for _, v in sorted(by_cat.items())]
    out: list[Example] = []
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


def warm_start_examples(pool: list[Example], n: int, seed: int) -> list[Example]:
    ordered = sorted(pool, key=lambda e: _order(seed + 1, e.id))
    return stratified(ordered, n)
