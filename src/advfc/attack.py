"""The harvest: the query model rewrites seeds, every rewrite is scored against the FC model
(`rewards.score_rewrites`, the same path as the Q-phase reward) and becomes one buffer row.
`advfc attack` runs the same harvest against any model, trained by advfc or not.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Literal

from pydantic import Field

from .buffer import AdversarialBuffer, round_summary, whole_seeds
from .config import BaseConfig, Categories
from .curriculum import choose_tactics
from .data import Example, load_bfcl
from .generation import Generator, SamplingParams, build_generator
from .prompts import gold_call_text
from .query import query_messages
from .rewards import QueryRewardSettings, pass_rates, score_rewrites
from .split import load_split
from .validity import Judge, ValidityRules, build_judge


def attack_seeds(
    seeds: list[Example],
    query_gen: Generator,
    fc_gen: Generator,
    settings: QueryRewardSettings,
    *,
    per_seed: int,
    level: int,
    round_index: int,
    q_params: SamplingParams,
    rng_seed: int = 0,
    clean_rates: dict[str, float] | None = None,
    judge: Judge | None = None,
) -> list[dict]:
    """Q rewrites each seed `per_seed` times (tactics drawn for the curriculum level), every
    rewrite is scored against F; one buffer row per rewrite, valid or not, seeds kept together."""
    conversations, meta = [], []
    for ex in seeds:
        rng = random.Random(f"{rng_seed}:{round_index}:harvest:{ex.id}")
        for i, t in enumerate(choose_tactics(level, per_seed, rng)):
            conversations.append(query_messages(ex, gold_call_text(ex), t))
            meta.append((ex, i, t))
    outputs = [out[0] for out in query_gen.generate(conversations, q_params)]
    results = score_rewrites(
        [m[0] for m in meta], [o.text for o in outputs], [m[0].id for m in meta], fc_gen, settings,
        truncated=[o.finish_reason == "length" for o in outputs], rng_seed=q_params.seed + 1, judge=judge,
    )
    rates = clean_rates or {}
    return [
        {
            "id": f"r{round_index}-{ex.id}-{i}",
            "round": round_index,
            "seed_id": ex.id,
            "sample": i,
            "tactic": t.name,
            "level": t.level,
            "curriculum_level": level,
            "query": res.query,
            "raw": out.text[:2000],
            "finish_reason": out.finish_reason,
            "status": res.validity.status,
            "reasons": list(res.validity.reasons),
            "p_hat": res.p_hat,
            "p_hat_clean": rates.get(ex.id),
            "verdicts": [g.strict for g in res.grades],
            "error_types": [g.error_type for g in res.grades],
            "fc_answers": [text[:500] for text in res.answers],
            "max_sim": res.max_sim,
            "task_reward": res.task_reward,
            "reward": res.reward,
            "seed": ex.to_record(),
        }
        for (ex, i, t), out, res in zip(meta, outputs, results)
    ]


# ----------------------------------------------------------------------------- `advfc attack`


class AttackConfig(BaseConfig):
    query_model: str = Field(..., description="The query model: a trained `query` adapter folder (e.g. RUN/final/query) or any model.")
    fc_model: str = Field("embedded", description="The FC model under attack: a model, adapter folder, hub id or endpoint URL.")
    categories: Categories = Field(["live_simple", "live_multiple"], description="BFCL categories whose items are attacked.")
    ids: Literal["eval", "train", "all"] = Field("eval", description="Which side of the split to attack.")
    limit: int | None = Field(8, ge=1, description="Seeds per category (the first ones).")
    per_seed: int = Field(4, ge=1, description="Rewrites per seed.")
    level: int = Field(3, ge=1, le=3, description="Highest tactic level used.")
    k: int = Field(4, ge=1, description="FC samples per rewrite.")
    fc_temperature: float = Field(0.7, ge=0, description="FC sampling temperature.")
    fc_max_new_tokens: int = Field(96, ge=8, description="Longest FC answer.")
    q_max_new_tokens: int = Field(64, ge=8, description="Longest rewrite.")
    q_temperature: float = Field(1.0, gt=0, description="Query-model sampling temperature.")
    max_similarity: float = Field(0.9, gt=0, le=1, description="Validity: reject rewrites at least this similar to the original.")
    max_length_ratio: float = Field(3.0, gt=0, description="Validity: longest rewrite relative to the original.")
    judge_model: str | None = Field(None, description="Optional reference model that must agree a rewrite asks for the same call.")
    backend: Literal["auto", "hf", "vllm", "openai"] = Field("auto", description="Generation backend for the FC model.")
    batch_size: int = Field(16, ge=1, description="Rows per forward pass (hf).")
    seed: int = Field(0, description="Sampling seed.")
    out: Path = Field(Path("runs/attack.jsonl"), description="Rewrites with verdicts, one JSON line each (resumable).")


def run_attack(config: AttackConfig, progress=None) -> dict:
    """Attack a model with a query model: every rewrite, valid or not, with F's verdicts; seeds
    already in `out` are skipped, so an interrupted attack resumes."""
    split = load_split()
    seeds = []
    for category in config.categories:
        keep = None if config.ids == "all" else set(getattr(split, config.ids).get(category, []))
        seeds += [e for e in load_bfcl(category) if keep is None or e.id in keep][: config.limit]
    buffer = AdversarialBuffer(config.out)
    buffer.repair()
    buffer.repair(whole_seeds(buffer.rows(), config.per_seed))
    done = buffer.seeds_done(0)
    todo = [e for e in seeds if e.id not in done]
    if todo:
        query_gen = build_generator(config.query_model, "hf", batch_size=config.batch_size)
        fc_gen = build_generator(config.fc_model, config.backend, batch_size=config.batch_size)
        judge = build_judge(config.judge_model, batch_size=config.batch_size) if config.judge_model else None
        settings = QueryRewardSettings(
            k=config.k,
            fc_temperature=config.fc_temperature,
            fc_max_new_tokens=config.fc_max_new_tokens,
            lambda_div=0.0,
            rules=ValidityRules(max_similarity=config.max_similarity, max_length_ratio=config.max_length_ratio),
        )
        rates = pass_rates(todo, fc_gen, settings, config.seed)
        q_params = SamplingParams(max_new_tokens=config.q_max_new_tokens, temperature=config.q_temperature, seed=config.seed)
        for start in range(0, len(todo), 4):
            chunk = todo[start : start + 4]
            buffer.append(attack_seeds(chunk, query_gen, fc_gen, settings, per_seed=config.per_seed, level=config.level,
                                       round_index=0, q_params=q_params, rng_seed=config.seed, clean_rates=rates, judge=judge))
            if progress:
                progress(len(done) + start + len(chunk), len(seeds))
    return round_summary([r for r in buffer.rows() if r["seed_id"] in {e.id for e in seeds}])
