"""Scoring the query model's rewrites against the FC model: parse, check validity, sample the FC
model k times on each valid rewrite, judge each answer with the BFCL checker, turn p-hat into r_Q.

The GRPO reward of the query phase and the harvest both go through `score_rewrites`, so what Q is
trained on and what lands in the buffer are measured the same way. All FC answers of one call are
generated together, so rewrites of one seed share the seed's prompt prefix in the generator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .checker import Verdict, check
from .data import Example
from .generation import Generator, SamplingParams
from .prompts import fc_messages, gold_call_text
from .query import parse_rewrite, query_messages
from .rewards import query_reward
from .validity import INVALID, VALID, Validity, ValidityRules, check_rewrite, max_similarity


@dataclass(frozen=True)
class AttackSettings:
    k: int = 4
    fc_temperature: float = 0.7
    fc_max_new_tokens: int = 64
    reward_mode: str = "zero_sum"
    target_failure: float = 0.3
    lambda_div: float = 0.2
    rules: ValidityRules = field(default_factory=ValidityRules)


@dataclass(frozen=True)
class AttackResult:
    query: str | None
    validity: Validity
    verdicts: tuple[Verdict, ...] = ()
    max_sim: float = 0.0
    reward: float = 0.0

    @property
    def p_hat(self) -> float | None:
        return sum(v.valid for v in self.verdicts) / len(self.verdicts) if self.verdicts else None


def sample_fc(examples: list[Example], fc: Generator, settings: AttackSettings, seed: int) -> list[list[Verdict]]:
    """k FC answers per example, each judged by the BFCL checker (one generation call)."""
    if not examples:
        return []
    params = SamplingParams(
        max_new_tokens=settings.fc_max_new_tokens,
        temperature=settings.fc_temperature,
        n=settings.k,
        seed=seed,
    )
    outputs = fc.generate([fc_messages(ex) for ex in examples], params)
    return [[check(c.text, ex) for c in completions] for ex, completions in zip(examples, outputs)]


def pass_rates(examples: list[Example], fc: Generator, settings: AttackSettings, seed: int) -> dict[str, float]:
    """The FC model's pass rate on each example's clean query (the curriculum's difficulty)."""
    verdicts = sample_fc(examples, fc, settings, seed)
    return {ex.id: sum(v.valid for v in vs) / len(vs) for ex, vs in zip(examples, verdicts)}


class Judge:
    """Optional reference-model check that a rewrite still asks for the gold call (off by default)."""

    def __init__(self, generator: Generator):
        self.generator = generator

    def agrees(self, pairs: list[tuple[Example, str]]) -> list[bool]:
        conversations = [
            [
                {
                    "role": "user",
                    "content": (
                        f"Original request: {seed.query}\nRewritten request: {query}\n"
                        f"Correct call for the original: {gold_call_text(seed)}\n"
                        "Is exactly this call still the correct answer to the rewritten request, with "
                        "the same argument values? Answer yes or no."
                    ),
                }
            ]
            for seed, query in pairs
        ]
        replies = self.generator.generate(conversations, SamplingParams(max_new_tokens=4))
        return [r[0].text.strip().lower().startswith("yes") for r in replies]


def score_rewrites(
    seeds: list[Example],
    raw_outputs: list[str],
    groups: list,
    fc: Generator,
    settings: AttackSettings,
    *,
    seed: int = 0,
    judge: Judge | None = None,
) -> list[AttackResult]:
    """r_Q for each raw query-model output (`groups[i]`: which rewrites compete for diversity)."""
    queries = [parse_rewrite(raw) for raw in raw_outputs]
    validity = [check_rewrite(q, ex, gold_call_text(ex), settings.rules) for q, ex in zip(queries, seeds)]
    if judge is not None:
        todo = [i for i, v in enumerate(validity) if v.valid]
        for i, ok in zip(todo, judge.agrees([(seeds[i], queries[i]) for i in todo])):
            if not ok:
                validity[i] = Validity(INVALID, ("judge: not the same call",))
    scored = [i for i, v in enumerate(validity) if v.status == VALID]
    verdicts = dict(zip(scored, sample_fc([seeds[i].with_query(queries[i]) for i in scored], fc, settings, seed)))
    results = []
    for i, (query, v) in enumerate(zip(queries, validity)):
        rivals = [q for j, q in enumerate(queries) if j != i and groups[j] == groups[i] and q]
        sim = max_similarity(query, rivals) if query else 0.0
        vs = tuple(verdicts.get(i, ()))
        p_hat = sum(x.valid for x in vs) / len(vs) if vs else None
        reward = query_reward(
            v.status,
            p_hat,
            mode=settings.reward_mode,
            target_failure=settings.target_failure,
            max_sim=sim,
            lambda_div=settings.lambda_div,
        )
        results.append(AttackResult(query, v, vs, sim, reward))
    return results


def attack_seeds(
    seeds: list[Example],
    query_gen: Generator,
    fc_gen: Generator,
    settings: AttackSettings,
    *,
    per_seed: int,
    level: int,
    round_index: int,
    q_params: SamplingParams,
    seed: int = 0,
    clean_rates: dict[str, float] | None = None,
    judge: Judge | None = None,
) -> list[dict]:
    """Q rewrites each seed `per_seed` times (tactics drawn for the curriculum level), every
    rewrite is scored against F; one buffer row per rewrite, valid or not, seeds kept together."""
    from .curriculum import choose_tactics

    conversations, meta = [], []
    for ex in seeds:
        rng = random.Random(f"{seed}:{round_index}:harvest:{ex.id}")
        for i, t in enumerate(choose_tactics(level, per_seed, rng)):
            conversations.append(query_messages(ex, gold_call_text(ex), t))
            meta.append((ex, i, t))
    raws = [out[0].text for out in query_gen.generate(conversations, q_params)]
    results = score_rewrites(
        [m[0] for m in meta], raws, [m[0].id for m in meta], fc_gen, settings,
        seed=q_params.seed + 1, judge=judge,
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
            "raw": raw[:2000],
            "status": res.validity.status,
            "reasons": list(res.validity.reasons),
            "p_hat": res.p_hat,
            "p_hat_clean": rates.get(ex.id),
            "verdicts": [v.valid for v in res.verdicts],
            "error_types": [v.error_type for v in res.verdicts],
            "max_sim": res.max_sim,
            "reward": res.reward,
            "seed": ex.to_record(),
        }
        for (ex, i, t), raw, res in zip(meta, raws, results)
    ]


# ----------------------------------------------------------------------------- `advfc attack`

from pathlib import Path  # noqa: E402
from typing import Literal  # noqa: E402

from pydantic import Field  # noqa: E402

from .config import BaseConfig, Categories  # noqa: E402


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
    from .buffer import AdversarialBuffer, round_summary, whole_seeds
    from .data import load_bfcl
    from .generation import build_generator
    from .split import load_split

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
        judge = Judge(build_generator(config.judge_model, "auto", batch_size=config.batch_size)) if config.judge_model else None
        settings = AttackSettings(
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
                                       round_index=0, q_params=q_params, seed=config.seed, clean_rates=rates, judge=judge))
            if progress:
                progress(len(done) + start + len(chunk), len(seeds))
    return round_summary([r for r in buffer.rows() if r["seed_id"] in {e.id for e in seeds}])
