"""The seed pool a run attacks and trains on, and its warm-start sample.

Seeds come from the train side of the split (never an evaluation id), or from xLAM / OpenAI-tools
files; seeds whose FC prompt exceeds `max_prompt_tokens` are skipped (training cost grows with
prompt length, and BFCL prompts with many tools run past a thousand tokens).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import defaultdict
from dataclasses import dataclass

from .data import Example, load_bfcl_ids, load_openai_jsonl, load_xlam
from .prompts import fc_messages, gold_call_text, render_chat
from .split import load_split

# What F is taught to say when no tool fits (the warm start's target for irrelevance seeds).
ABSTAIN = "None of the provided functions can be used for this request."


def _order(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def load_examples(config) -> list[Example]:
    source = config.train_data
    if source == "bfcl":
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


def stratified(examples: list[Example], n: int, rng: random.Random | None = None) -> list[Example]:
    """n examples taking categories in turn, so small categories (parallel, irrelevance) appear;
    in sorted order, or in an order drawn by `rng` (then no category is favoured when n is not a
    multiple of the number of categories)."""
    by_cat: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        by_cat[e.category].append(e)
    queues = [list(v) for _, v in sorted(by_cat.items())]
    if rng is not None:
        rng.shuffle(queues)
    out: list[Example] = []
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


POOL_DRAWS = ("uniform", "stratified")


def draw(pool: list[Example], n: int, rng: random.Random, how: str) -> list[Example]:
    """n distinct seeds of the pool (all of them if it is smaller): `uniform` keeps the pool's
    category shares, `stratified` takes categories in turn. The live pool is about half
    live_irrelevance, so a uniform clean mix teaches F mostly to abstain (docs/results.md)."""
    if how == "uniform":
        return rng.sample(pool, min(n, len(pool)))
    return stratified(rng.sample(pool, len(pool)), n, rng)


def warm_start_examples(pool: list[Example], n: int, seed: int) -> list[Example]:
    ordered = sorted(pool, key=lambda e: _order(seed + 1, e.id))
    return stratified(ordered, n)


def target_text(example: Example) -> str:
    """What a correct F says for a seed: its gold call, or the abstention."""
    return gold_call_text(example) if example.answers else ABSTAIN


@dataclass(frozen=True)
class TokenBudgets:
    """Generation budgets sized from the seed pool, so a budget never decides a verdict: F's covers
    the longest correct answer (a seed whose gold call does not fit can never pass), Q's covers
    `query_headroom` x the 95th-percentile seed query (a rewrite stopped at its budget is invalid)."""

    query: int
    fc: int
    longest_answer: int
    query_p95: int


def token_budgets(pool: list[Example], tokenizer, *, q_floor: int, f_floor: int, query_headroom: float = 1.5,
                  margin: int = 8) -> TokenBudgets:
    if not pool:
        return TokenBudgets(q_floor, f_floor, 0, 0)
    encode = lambda texts: [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]  # noqa: E731
    answers = encode([target_text(e) for e in pool])
    queries = sorted(encode([e.query for e in pool]))
    p95 = queries[min(len(queries) - 1, math.ceil(0.95 * len(queries)) - 1)]
    return TokenBudgets(
        query=max(q_floor, math.ceil(query_headroom * p95) + margin),
        fc=max(f_floor, max(answers) + margin),
        longest_answer=max(answers),
        query_p95=p95,
    )
