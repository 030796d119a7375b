"""The harvest: the query model rewrites seeds, every rewrite is scored against the FC model
(`rewards.score_rewrites`, the same path as the Q-phase reward) and becomes one buffer row.
`advfc attack` runs the same harvest against any model, trained by advfc or not.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field
from tqdm.auto import tqdm

from .buffer import AdversarialBuffer, round_summary, whole_seeds
from .config import BaseConfig, Categories
from .curriculum import choose_tactics
from .data import Example, load_bfcl
from .errors import InputError
from .exports import write_bfcl_files
from .generation import ENV_NAME_PATTERN, Generator, SamplingParams, build_generator
from .io import atomic_write_json, check_output, file_digest, is_folder_of, make_dirs, read_json, write_jsonl
from .players import QUERY
from .prompts import gold_call_text
from .query import query_messages
from .report import write_attack_report
from .robustness import MANIFEST, is_set_folder
from .rewards import QueryRewardSettings, pass_rates, score_rewrites
from .runlog import is_run_dir
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
    attacker: str = Field(..., description="The query model: a run folder (its final, else latest, query adapter), a query adapter folder, or any model.")
    target: str = Field("embedded", description="The FC model under attack: a model or adapter folder, a hub id, or http://host:port/v1::name.")
    categories: Categories = Field(["live_simple", "live_multiple"], description="BFCL categories whose items are attacked.")
    ids: Literal["eval", "train", "all"] = Field("eval", description="Which side of the split to attack.")
    limit: int | None = Field(8, ge=1, description="Seeds per category (the first ones).")
    per_seed: int = Field(4, ge=1, description="Rewrites per seed.")
    level: int = Field(3, ge=1, le=3, description="Highest tactic level used.")
    k: int = Field(4, ge=1, description="Target samples per rewrite.")
    fc_temperature: float = Field(0.7, ge=0, description="Target sampling temperature.")
    fc_max_new_tokens: int = Field(96, ge=8, description="Longest target answer.")
    q_max_new_tokens: int = Field(64, ge=8, description="Longest rewrite.")
    q_temperature: float = Field(1.0, gt=0, description="Query-model sampling temperature.")
    max_similarity: float = Field(0.9, gt=0, le=1, description="Validity: reject rewrites at least this similar to the original.")
    max_length_ratio: float = Field(3.0, gt=0, description="Validity: longest rewrite relative to the original.")
    judge_model: str | None = Field(None, description="Optional reference model that must agree a rewrite asks for the same call.")
    backend: Literal["auto", "hf", "vllm", "openai"] = Field("auto", description="Generation backend for the target.")
    api_key_env: str = Field("OPENAI_API_KEY", pattern=ENV_NAME_PATTERN,
                             description="openai: variable holding the target endpoint's key (sent only over https or to this machine).")
    batch_size: int = Field(16, ge=1, description="Rows per forward pass (hf).")
    seed: int = Field(0, description="Sampling seed.")
    out: Path = Field(Path("runs/attack"), description="Attack folder: every rewrite, the adversarial set that broke the target, its report (resumable).")
    progress: bool = Field(True, description="Progress bars.")

    def settings(self) -> dict:
        """What decides the rewrites and verdicts: a folder is resumed only with the same."""
        return self.model_dump(mode="json", exclude={"out", "progress"})


ATTACK_FILE = "attack.json"
REWRITES = "rewrites.jsonl"


def attacker_model(spec: str) -> str:
    """A run folder stands for its trained query adapter: `final/query`, else the newest checkpoint's."""
    folder = Path(spec)
    if is_run_dir(folder):
        for candidate in (folder / "final" / QUERY, folder / "checkpoint" / "adapters" / QUERY):
            if (candidate / "adapter_config.json").is_file():
                return str(candidate)
        raise InputError("holds no query adapter yet (no final/query, no checkpoint)", path=folder)
    return spec


def claim_attack_folder(config: AttackConfig) -> Path:
    """A new or empty folder, or one this attack wrote with the same settings (resumed)."""
    out = check_output(config.out, what="an advfc attack folder", ours=lambda p: is_folder_of(p, (ATTACK_FILE,)))
    manifest = out / ATTACK_FILE
    if manifest.exists():
        saved = read_json(manifest)
        changed = sorted(k for k in set(saved) | set(config.settings()) if saved.get(k) != config.settings().get(k))
        if changed:
            raise InputError(f"holds an attack with other settings ({', '.join(changed)}); choose another --out", path=out)
    else:
        make_dirs(out)
        atomic_write_json(manifest, config.settings())
    return out


def run_attack(config: AttackConfig) -> dict:
    """Red-team a model with a query model: every rewrite, valid or not, with the target's
    verdicts (seeds already in the folder are skipped, so an interrupted attack resumes); then the
    adversarial set that broke the target in BFCL's format, and the weakness report."""
    out = claim_attack_folder(config)
    split = load_split()
    seeds = []
    for category in config.categories:
        keep = None if config.ids == "all" else set(getattr(split, config.ids).get(category, []))
        seeds += [e for e in load_bfcl(category) if keep is None or e.id in keep][: config.limit]
    buffer = AdversarialBuffer(out / REWRITES)
    buffer.repair()
    buffer.repair(whole_seeds(buffer.rows(), config.per_seed))
    done = buffer.seeds_done(0)
    todo = [e for e in seeds if e.id not in done]
    if todo:
        query_gen = build_generator(attacker_model(config.attacker), "hf", batch_size=config.batch_size)
        fc_gen = build_generator(config.target, config.backend, batch_size=config.batch_size, api_key_env=config.api_key_env)
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
        with tqdm(total=len(seeds), initial=len(seeds) - len(todo), desc="attack", unit="seed", disable=not config.progress) as bar:
            for start in range(0, len(todo), 4):
                chunk = todo[start : start + 4]
                buffer.append(attack_seeds(chunk, query_gen, fc_gen, settings, per_seed=config.per_seed, level=config.level,
                                           round_index=0, q_params=q_params, rng_seed=config.seed, clean_rates=rates, judge=judge))
                bar.update(len(chunk))
    ids = {e.id for e in seeds}
    rows = [r for r in buffer.rows() if r["seed_id"] in ids]
    broken = export_broken(rows, out)
    summary = {**round_summary(rows), "seeds": len(seeds), "broke": broken, "target": config.target,
               "attacker": config.attacker}
    atomic_write_json(out / "summary.json", summary)
    write_attack_report(out, summary, rows)
    return summary


def breaks(row: dict) -> bool:
    """A valid rewrite of a seed the target answers on its clean query that it now mostly fails."""
    return row["status"] == "valid" and row["p_hat"] is not None and row["p_hat"] < 0.5 and (row["p_hat_clean"] or 0) >= 0.5


def export_broken(rows: list[dict], out: Path) -> int:
    """The rewrites that broke the target as a BFCL-format set (`questions.jsonl`, `answers.jsonl`:
    `advfc eval --questions --answers`, or BFCL itself, score any model on it) and as rows
    `datasets` loads (`adversarial.jsonl`, tools and answers as JSON strings)."""
    items = [Example.from_dict(r["seed"]).with_query(r["query"], id=r["id"]) for r in rows if breaks(r)]
    write_bfcl_files(items, out)
    write_jsonl(out / "adversarial.jsonl", [e.to_record() for e in items])
    return len(items)


# ----------------------------------------------------------------------------- a frozen rewrite set
#
# The robustness set written by a query model: an attack on held-out seeds by a Q trained in a
# run of its own (never an experiment arm's Q, which would be measured on its own rewrites),
# frozen to files so every model is scored on the same items. `advfc data rewrites` writes it.

REWRITE_SET = "rewrites of held-out BFCL items by a trained query model from a separate run, passed by the guard"


def is_rewrite_set(path: Path) -> bool:
    return is_set_folder(path, REWRITE_SET)


def write_rewrite_set(attack_dir: str | Path, out: str | Path) -> dict:
    """For every attacked seed, the first rewrite the guard passed (one per seed, so the items
    stay independent for paired intervals), as BFCL-format `questions.jsonl` + `answers.jsonl`
    with the source item and tactic on each question line, and a manifest saying which query
    model wrote them against which target. Returns the manifest."""
    attack = Path(attack_dir)
    if not (attack / ATTACK_FILE).is_file():
        raise InputError(f"is not an advfc attack folder (no {ATTACK_FILE})", path=attack)
    settings = read_json(attack / ATTACK_FILE)
    if settings.get("ids") != "eval":
        raise InputError(f"attacked ids={settings.get('ids')}; a robustness set rewrites held-out seeds only "
                         "(advfc attack --ids eval)", path=attack / ATTACK_FILE)
    if not (attack / "summary.json").is_file():
        raise InputError("holds an unfinished attack (no summary.json); rerun the same advfc attack to finish it", path=attack)
    out = check_output(out, what="a rewrite robustness set (a folder with its manifest.json)", ours=is_rewrite_set,
                       inputs=(attack,))
    held = {i for ids in load_split().eval.values() for i in ids}
    rows = AdversarialBuffer(attack / REWRITES).rows()
    leaked = sorted({r["seed_id"] for r in rows} - held)
    if leaked:
        raise InputError(f"rewrites {len(leaked)} seeds outside the held-out split (first: {leaked[0]})", path=attack / REWRITES)
    first: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: r["sample"]):
        if row["status"] == "valid" and row["query"].strip():
            first.setdefault(row["seed_id"], row)
    order = list(dict.fromkeys(r["seed_id"] for r in rows))  # attack order: category by category
    chosen = [first[s] for s in order if s in first]
    items = [(Example.from_dict(r["seed"]), r) for r in chosen]
    write_bfcl_files([e.with_query(r["query"], id=f"{e.id}#rewrite") for e, r in items], out,
                     [{"tactic": r["tactic"], "source_id": e.id, "source_category": e.category} for e, r in items])
    category = {r["seed_id"]: r["seed"]["category"] for r in rows}
    by_category: dict[str, dict[str, int]] = {}
    for r in rows:
        counts = by_category.setdefault(category[r["seed_id"]], {"seeds": 0, "rewrites": 0, "passed": 0, "items": 0})
        counts["rewrites"] += 1
        counts["passed"] += r["status"] == "valid"
    for s in order:
        by_category[category[s]]["seeds"] += 1
        by_category[category[s]]["items"] += s in first
    manifest = {
        "set": REWRITE_SET,
        "items": len(items),
        "by_category": by_category,
        "tactics": dict(sorted(Counter(r["tactic"] for r in chosen).items())),
        "attack": settings,
        "attacker": attacker_provenance(settings["attacker"]),
        "files": {name: file_digest(out / name) for name in ("questions.jsonl", "answers.jsonl")},
        "command": f"advfc data rewrites {attack} --out {out}",
    }
    atomic_write_json(out / MANIFEST, manifest)
    return manifest


def attacker_provenance(spec: str) -> dict:
    """Which query model wrote the set: its adapter's checksum, and for a run folder the run's
    arm and sampling seed (a reader can check it is no experiment arm's)."""
    model = attacker_model(spec)
    weights = Path(model) / "adapter_model.safetensors"
    record = {"model": model, "adapter_sha256": file_digest(weights)["sha256"] if weights.is_file() else None}
    config = Path(spec) / "config.yaml"
    if config.is_file():
        saved = yaml.safe_load(config.read_text()) or {}
        record["run"] = {k: saved.get(k) for k in ("arm", "seed", "rounds", "q_steps", "init_from")}
    return record
