"""`advfc experiment`: does the game beat plain GRPO? (METHOD.md, "Baselines and the experiment")

    EXP/experiment.yaml          the experiment's config (every `advfc train` field plus the ones below)
    EXP/eval_sample/             the frozen, stratified held-out sample (BFCL questions/answers files)
    EXP/base/                    B0: the base model on the sample, evaluated once
    EXP/seed_<s>/sft/            B1: the warm start of seed s (a run with `--arm sft --rounds 0`)
    EXP/seed_<s>/<arm>/          every other arm of seed s, forked from that B1 (`init_from`)
    EXP/summaries/<arm>@<s>.json one small summary per finished arm and seed (committable)
    EXP/results.json, results.md the table composed from every summary present, with intervals

Every arm uses the experiment's F-phase budget (f_steps x f_batch_size), partial-credit schedule
(tied to the round) and evaluation items; they differ only in the steps `advfc.arms` switches off
and in a variant's overrides. Arms resume on their own: rerunning the command skips arms whose
summary matches their config, continues a half-finished run folder, and rebuilds the table, so
arms and seeds can be added later (`--arms`, `--seeds`) and run on other days or machines, and
robustness sets added later are scored on the arms already finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import Field, ValidationError, model_validator

from .arms import ARMS
from .config import Categories
from .data import AST_NON_LIVE, Example, expects_no_call, load_bfcl_files, load_bfcl_ids
from .errors import InputError
from .evaluation import EvalConfig, evaluate, score_path
from .exports import write_bfcl_files
from .io import atomic_write_json, atomic_write_text, make_dirs, read_json, read_jsonl
from .report import write_experiment_report
from .runlog import is_run_dir, lock
from .split import load_split
from .stats import paired_difference
from .train_config import RESUME_OVERRIDES, ROUND_FIELDS, TrainConfig

EXPERIMENT_FILE = "experiment.yaml"
EXPERIMENT_HEADER = "# advfc experiment: its resolved config; rerun `advfc experiment --config <this file>` to continue it\n"
SAMPLE_CATEGORIES = [*AST_NON_LIVE, "irrelevance", "live_simple", "live_multiple", "live_irrelevance"]
# Fields every arm gets from the experiment, never from the user.
PER_ARM = ("arm", "init_from", "resume", "seed", "eval_questions", "eval_answers", "eval_base", "output_dir")
# What may change between invocations on one experiment folder: which arms/seeds run, how it reports,
# and which robustness sets finished arms are scored on (a set added later is scored, not retrained for).
RERUN_FIELDS = ("arms", "ablations", "seeds", "variants", "robustness_sets", *RESUME_OVERRIDES)
B0, B1 = "base", "sft"
# Settings added after summaries were published, with the value that does what runs did before
# they existed: left out of the config hash at that value, so those summaries stay valid.
LATER_FIELDS = {"pool_draw": "uniform"}
# Resume overrides that summaries made before they became one recorded at this value; hashed at it
# whatever they are set to, since they do not change an arm's numbers.
HASHED_AS = {"gradient_checkpointing": False}
# Variants every experiment knows (the seed paper's frontier reward); `variants` adds to them.
BUILTIN_VARIANTS = {"frontier": {"arm": "advfc", "reward_mode": "frontier"}}


class ExperimentConfig(TrainConfig):
    arms: list[str] = Field(
        ["grpo_clean", "grpo_random_aug", "advfc"],
        description="Arms run for every seed besides B0 (base) and B1 (sft): names from advfc.arms or variants.",
    )
    ablations: list[str] = Field(
        ["no_curriculum", "frontier", "frozen_q"],
        description="Arms run for the first seed only (the seed paper's components, one at a time).",
    )
    seeds: list[int] = Field([0, 1, 2], min_length=1, description="RNG seeds; every arm runs once per seed.")
    variants: dict[str, dict[str, Any]] = Field(
        {}, description="Named arms that override config fields of an arm from advfc.arms, besides the built-in "
        "frontier (YAML only), e.g. {lr_high: {arm: advfc, f_lr: 1e-4}}.",
    )
    eval_per_category: int = Field(100, ge=1, description="Items of the frozen held-out sample per category.")
    eval_sample_categories: Categories = Field(SAMPLE_CATEGORIES, description="Categories of the frozen held-out sample.")
    robustness_sets: list[str] = Field(
        [], description="Folders with BFCL-format questions.jsonl + answers.jsonl every arm's final F is scored on.",
    )
    output_dir: Path = Field(Path("runs/experiment"), description="Experiment folder.")

    @model_validator(mode="after")
    def _per_arm_fields_are_the_experiments(self):
        given = sorted(set(PER_ARM) - {"output_dir"} & self.model_fields_set)
        if given:
            raise ValueError(f"{', '.join(given)} are set per arm by the experiment; use arms, ablations, seeds and variants")
        variants = self.all_variants()
        for name in [*self.arms, *self.ablations]:
            if name not in ARMS and name not in variants:
                raise ValueError(f"unknown arm {name!r}: expected one of {', '.join([*ARMS, *variants])}")
            if name in (B0, B1):
                raise ValueError(f"{name} runs in every experiment; list only the arms that fork from it")
        for name, overrides in variants.items():
            bad = sorted(set(overrides) & set(PER_ARM) - {"arm"})
            if bad or overrides.get("arm", name) not in ARMS:
                raise ValueError(f"variant {name!r}: give `arm` (one of {', '.join(ARMS)}) and train fields other than "
                                 f"{', '.join(PER_ARM)}")
            try:
                TrainConfig(**{**self.train_fields(), **overrides})
            except ValidationError as e:
                raise ValueError(f"variant {name!r}: {e.errors()[0]['msg']} ({'.'.join(map(str, e.errors()[0]['loc']))})") from None
        return self

    def all_variants(self) -> dict[str, dict]:
        return {**BUILTIN_VARIANTS, **self.variants}

    def train_fields(self) -> dict:
        return {k: getattr(self, k) for k in TrainConfig.model_fields if k in self.model_fields_set and k not in PER_ARM}

    def base_arm(self, name: str) -> str:
        """The advfc.arms row an arm runs: its own name, or the one its variant overrides."""
        return self.all_variants().get(name, {}).get("arm", name)

    def arm_config(self, name: str, seed: int, run_dir: Path, *, init_from: Path | None, sample: Path) -> TrainConfig:
        return TrainConfig(**{
            **self.train_fields(), **self.all_variants().get(name, {}),
            "arm": self.base_arm(name),
            "seed": seed,
            "output_dir": run_dir,
            "init_from": init_from,
            "eval_base": False,
            "eval_limit": None,  # the whole frozen sample, never its first items per category
            "eval_questions": sample / "questions.jsonl",
            "eval_answers": sample / "answers.jsonl",
            **({"rounds": 0} if name == B1 else {}),
        })


# ----------------------------------------------------------------------------- the frozen sample


def stratified_sample(categories: list[str], per_category: int) -> list[Example]:
    """Per category, `per_category` held-out items ranked by a hash of their id: a spread over the
    whole category (not its first entries), identical on every machine and for every arm."""
    split = load_split()
    ids = []
    for category in categories:
        held = split.eval.get(category, [])
        ids += sorted(held, key=lambda i: hashlib.sha256(f"eval-sample:{i}".encode()).hexdigest())[:per_category]
    return load_bfcl_ids(ids)


def freeze_sample(config: ExperimentConfig, folder: Path) -> list[Example]:
    """Write the sample once; later invocations read the frozen files (so a newer bfcl-eval or
    split cannot change the items under an experiment already running)."""
    if not (folder / "questions.jsonl").is_file():
        write_bfcl_files(stratified_sample(config.eval_sample_categories, config.eval_per_category), folder)
    return load_bfcl_files(folder / "questions.jsonl", folder / "answers.jsonl")


# ----------------------------------------------------------------------------- running arms


def run_experiment(config: ExperimentConfig) -> dict | None:
    """Every arm of the plan that has no summary yet, then the table (None on all processes but the
    main one). Under `accelerate launch` every process trains each arm (advfc.distributed); the
    main process alone claims the folder, evaluates B0 and writes the summaries and the table."""
    from . import distributed  # torch and accelerate, as the game: the table alone needs neither
    from .game import run_training

    folder = config.output_dir
    main = distributed.is_main()
    if main:
        claim_experiment(config, folder)
    with lock(folder) if main else contextlib.nullcontext():
        started = time.perf_counter()
        summaries = folder / "summaries"
        if main:
            sample = freeze_sample(config, folder / "eval_sample")
            base = summaries / f"{B0}.json"
            previous = read_json(base) if base.is_file() else None
            if previous is None or missing_sets(config, previous):
                atomic_write_json(base, base_summary(config, folder, sample, previous, path=base))
        # Seed by seed, so that an interrupted experiment has whole seeds to compare; ablations last.
        plan = [(a, s) for s in config.seeds for a in (B1, *config.arms)] + [(a, config.seeds[0]) for a in config.ablations]
        for name, seed in plan:
            b1_dir = folder / f"seed_{seed}" / B1
            run_dir = folder / f"seed_{seed}" / name
            arm_config = config.arm_config(name, seed, run_dir, init_from=None if name == B1 else b1_dir,
                                           sample=folder / "eval_sample")
            path = summaries / f"{name}@{seed}.json"
            digest = config_hash(arm_config)
            done = distributed.share(main and has_summary(path, digest, name, seed))
            # Summaries travel between machines, adapters never do: a summarised B1 that an arm still
            # has to fork from is trained again if its folder is gone, and must score as its summary says.
            needed = name == B1 and distributed.share(main and any(
                not (summaries / f"{a}@{s}.json").is_file() for a, s in plan if s == seed and a != B1))
            if done and not needed:
                if main:
                    complete_summary(config, path, run_dir)
                continue
            if not (done and distributed.share((run_dir / "final").is_dir())):
                if distributed.share(is_run_dir(run_dir)):
                    run_training(TrainConfig(resume=run_dir, **{k: getattr(config, k) for k in RESUME_OVERRIDES}))
                else:
                    run_training(arm_config)
            if main and done:
                check_restored(read_json(path), run_dir, sample, path)
                complete_summary(config, path, run_dir)
            elif main:
                atomic_write_json(path, arm_summary(config, name, seed, run_dir, sample, digest))
                compose(folder)
        if not main:
            return None
        results = compose(folder)
    results["seconds_this_run"] = round(time.perf_counter() - started, 1)
    return results


def has_summary(path: Path, digest: str, name: str, seed: int) -> bool:
    """Whether the arm is done: its summary is there, made with these settings (else refused)."""
    if not path.is_file():
        return False
    if read_json(path).get("config_hash") != digest:
        raise InputError(f"holds a summary of {name} (seed {seed}) made with other settings; remove it to rerun "
                         "that arm, or use another --output-dir", path=path)
    return True


def complete_summary(config: ExperimentConfig, path: Path, run_dir: Path) -> None:
    """A finished arm's final F scored on the robustness sets its summary lacks (sets added to the
    experiment after it finished). An arm whose adapters did not travel with its summary keeps it as it is."""
    summary, fc = read_json(path), run_dir / "final" / "fc"
    if missing_sets(config, summary) and fc.is_dir():
        atomic_write_json(path, with_robustness(config, summary, str(fc), run_dir))


def check_restored(summary: dict, run_dir: Path, sample: list[Example], path: Path) -> None:
    """A B1 trained again (its folder was gone) must give the verdicts of its summary, else the arms
    forked from it would not share a warm start with the arms summarised before."""
    eval_dir = run_dir / "eval" / "warm_start"
    correct = eval_record(eval_dir, sample, read_json(eval_dir / "scores.json"))["correct"]
    differ = sum(a != b for a, b in zip(correct, summary["correct"], strict=True))
    if differ:
        raise InputError(f"B1 of seed {summary['seed']} was trained again in {run_dir} (its folder was gone) but scores "
                         f"{differ} of {len(correct)} sample items otherwise than this summary; arms forked from it would not "
                         "share the warm start of those summarised before: bring the original B1 folder, or remove this "
                         "seed's summaries to run the seed again whole", path=path)


def claim_experiment(config: ExperimentConfig, folder: Path) -> None:
    """A new folder gets the config; an existing one must hold the same experiment (only which
    arms and seeds run, and how it reports, may change between invocations)."""
    path = folder / EXPERIMENT_FILE
    if path.exists():
        previous = ExperimentConfig.load(path)
        # where the folder is is not part of what it holds: a folder copied elsewhere continues
        changed = [k for k in ExperimentConfig.model_fields
                   if k not in (*RERUN_FIELDS, "output_dir") and getattr(previous, k) != getattr(config, k)]
        if changed:
            raise InputError(f"holds an experiment with other settings ({', '.join(changed)}); use another --output-dir",
                             path=folder)
        return
    make_dirs(folder)
    if any(folder.iterdir()):
        raise InputError("is not empty and holds no experiment; a new experiment needs an empty or new --output-dir", path=folder)
    saved = config.model_dump(mode="json", exclude=set(PER_ARM) - {"output_dir"})
    atomic_write_text(path, EXPERIMENT_HEADER + yaml.safe_dump(saved, sort_keys=False))


def config_hash(config: TrainConfig) -> str:
    """What decides an arm's numbers: every field except where it is written and how it reports,
    where the frozen sample lies (the folder holds one sample; summaries record its digest), and,
    for B1 (no rounds), the round settings: a change of F-phase settings reuses the warm start."""
    skip = {"output_dir", "init_from", "resume", "eval_questions", "eval_answers", *RESUME_OVERRIDES,
            *(ROUND_FIELDS if config.rounds == 0 else ())}
    fields = config.model_dump(mode="json", exclude=skip)
    fields = {k: v for k, v in fields.items() if LATER_FIELDS.get(k, ...) != v} | HASHED_AS
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def base_summary(config: ExperimentConfig, folder: Path, sample: list[Example], previous: dict | None = None, *,
                 path: Path | None = None) -> dict:
    """B0 is evaluated once: greedy decoding of the base model does not depend on the seed. A B0
    summary of the same sample that lacks some of the robustness sets (`previous`: made before
    they were added, or by an earlier experiment on this sample) is completed, not redone."""
    if previous is None:
        _, record = score_files(config, config.model, folder / "eval_sample", folder / B0 / "eval")
        previous = {"arm": B0, "label": "B0", "seed": None, "config_hash": None, "commit": source_commit(), **record,
                    "robustness": {}}
    elif previous.get("sample_digest") != sample_digest(sample):
        raise InputError("holds a B0 summary of another held-out sample; remove it to evaluate B0 again", path=path)
    return with_robustness(config, previous, config.model, folder / B0)


def missing_sets(config: ExperimentConfig, summary: dict) -> list[str]:
    return [f for f in config.robustness_sets if Path(f).name not in summary.get("robustness", {})]


def with_robustness(config: ExperimentConfig, summary: dict, model: str, run_dir: Path) -> dict:
    """A summary completed with the experiment's robustness sets it lacks (sets added after it was
    made), scored for `model`; the sets it holds are kept as they are, listed or not."""
    added = {k: {**v, "commit": source_commit()}  # a completed summary's sets may come from later code
             for k, v in robustness_records(config, model, run_dir, missing_sets(config, summary)).items()}
    return {**summary, "robustness": {**summary.get("robustness", {}), **added}}


def arm_summary(config: ExperimentConfig, name: str, seed: int, run_dir: Path, sample: list[Example],
                digest: str) -> dict:
    stage = "warm_start" if name == B1 else max(
        (p.name for p in (run_dir / "eval").glob("round_*")), key=lambda n: int(n.split("_")[1]))
    eval_dir = run_dir / "eval" / stage
    arm = config.base_arm(name)
    return {
        "arm": name, "label": ARMS[arm].label if name == arm else f"{ARMS[arm].label} + {name}", "seed": seed,
        "config_hash": digest, "commit": source_commit(), "seconds": stage_seconds(run_dir),
        "dtype": read_json(run_dir / "checkpoint" / "state.json").get("dtype"),  # what `dtype: auto` became
        **eval_record(eval_dir, sample, read_json(eval_dir / "scores.json")),
        "robustness": robustness_records(config, str(run_dir / "final" / "fc"), run_dir),
        "rounds": training_curves(run_dir),
    }


def stage_seconds(run_dir: Path) -> float:
    """The arm's compute time: its finished stages as its events log them, over every invocation
    (an arm resumed after a kill, or finished by an earlier one, is not timed by the last alone;
    a stage cut off by a kill is not counted, its repetition is)."""
    events = read_jsonl(run_dir / "events.jsonl")
    return round(sum(e["seconds"] for e in events if e.get("event") == "stage" and e.get("status") == "end"), 1)


def eval_record(out: Path, sample: list[Example], scores: dict) -> dict:
    """Accuracy and parseable-call rate per category, and every item's verdict in sample order
    (a 0/1 string, so paired statistics can be composed from summaries alone)."""
    verdicts = {}
    for category in dict.fromkeys(e.category for e in sample):
        verdicts.update({r["id"]: r for r in read_jsonl(score_path(out, category))})
    missing = [e.id for e in sample if e.id not in verdicts]
    if missing:
        raise InputError(f"has no verdict for {len(missing)} sample items (first: {missing[0]})", path=out)
    correct = "".join("1" if verdicts[e.id]["valid"] else "0" for e in sample)
    return {
        "sample_digest": sample_digest(sample),
        "accuracy": correct.count("1") / len(correct),
        "categories": {c: {k: v[k] for k in ("total", "correct", "accuracy", "parseable_calls")}
                       for c, v in scores["categories"].items()},
        "correct": correct,
        "called": "".join("1" if verdicts[e.id]["called"] else "0" for e in sample),
        "verdicts_sha256": hashlib.sha256(correct.encode()).hexdigest(),
    }


def score_files(config: ExperimentConfig, model: str, folder: Path, out: Path) -> tuple[list[Example], dict]:
    """One model (greedy, the experiment's generation settings) on a folder of BFCL-format
    questions.jsonl + answers.jsonl: its items and their `eval_record`."""
    questions, answers = folder / "questions.jsonl", folder / "answers.jsonl"
    scores = evaluate(EvalConfig(model=model, dtype=config.dtype, questions=questions, answers=answers, out=out,
                                 max_new_tokens=config.eval_max_new_tokens, batch_size=config.generation_batch_size,
                                 progress=config.progress))
    items = load_bfcl_files(questions, answers)
    return items, eval_record(out, items, scores)


def robustness_records(config: ExperimentConfig, model: str, run_dir: Path, sets: list[str] | None = None) -> dict:
    """Each robustness set (all of the experiment's unless `sets`) scored for one model, call items
    and irrelevance items apart."""
    records = {}
    for folder in map(Path, config.robustness_sets if sets is None else sets):
        items, record = score_files(config, model, folder, run_dir / "robustness" / folder.name)
        kinds = {"call": [i for i, e in enumerate(items) if not expects_no_call(e.category)],
                 "irrelevance": [i for i, e in enumerate(items) if expects_no_call(e.category)]}
        record["by_kind"] = {k: {"items": len(idx), "accuracy": sum(record["correct"][i] == "1" for i in idx) / len(idx)}
                             for k, idx in kinds.items() if idx}
        records[folder.name] = record
    return records


def training_curves(run_dir: Path) -> list[dict]:
    """Per round: F's and Q's mean reward, validity, truncation and attack success, the level."""
    keys = ("f_reward_mean", "q_reward_mean", "harvest/validity_rate", "harvest/truncation_rate",
            "harvest/attack_success", "level")
    path = run_dir / "metrics.jsonl"
    rows = read_jsonl(path) if path.is_file() else []
    return [{"round": r["round"], **{k: r.get(k) for k in keys}} for r in rows]


def sample_digest(sample: list[Example]) -> str:
    return hashlib.sha256("\n".join(e.id for e in sample).encode()).hexdigest()[:16]


def source_commit() -> str | None:
    """The git commit of the code that ran, with `+dirty` for uncommitted changes (None outside a checkout)."""
    here = Path(__file__).parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode:
        return None
    return head.stdout.strip()[:12] + ("+dirty" if dirty.stdout.strip() else "")


# ----------------------------------------------------------------------------- the table


def load_summaries(folder: Path) -> list[dict]:
    summaries = []
    for path in sorted((folder / "summaries").glob("*.json")):
        s = read_json(path)
        if not isinstance(s, dict) or not isinstance(s.get("correct"), str) or "arm" not in s:
            raise InputError("not an arm summary of `advfc experiment` (needs arm and correct)", path=path)
        summaries.append(s)
    return summaries


def verdict_matrix(summaries: list[dict], seeds: list[int]) -> np.ndarray:
    by_seed = {s["seed"]: s for s in summaries}
    return np.array([[c == "1" for c in (by_seed.get(seed) or by_seed[None])["correct"]] for seed in seeds], dtype=float)


def compare(a: list[dict], b: list[dict]) -> dict | None:
    """advfc - baseline on the seeds both ran (B0 has one summary that pairs with every seed)."""
    seeds_a = {s["seed"] for s in a}
    seeds_b = {s["seed"] for s in b}
    seeds = sorted(seeds_a & seeds_b) if None not in seeds_a | seeds_b else sorted((seeds_a | seeds_b) - {None})
    if not seeds or {s["sample_digest"] for s in a + b} != {a[0]["sample_digest"]}:
        return None
    return paired_difference(verdict_matrix(a, seeds), verdict_matrix(b, seeds)).to_dict()


def compose(folder: Path) -> dict:
    """results.json (every arm: accuracy per category and seed, parseable calls, paired intervals
    against B2 and B3, robustness) and the Markdown/HTML report, from the summaries alone."""
    summaries = load_summaries(folder)
    by_arm: dict[str, list[dict]] = {}
    for s in summaries:
        by_arm.setdefault(s["arm"], []).append(s)
    arms = []
    for name, runs in by_arm.items():
        runs = sorted(runs, key=lambda s: -1 if s["seed"] is None else s["seed"])
        accuracy = [s["accuracy"] for s in runs]
        categories = sorted({c for s in runs for c in s["categories"]})
        row = {
            "arm": name, "label": runs[0]["label"], "seeds": [s["seed"] for s in runs],
            "accuracy": float(np.mean(accuracy)), "accuracy_by_seed": accuracy,
            "parseable_calls": float(np.mean([s["called"].count("1") / len(s["called"]) for s in runs])),
            "categories": {c: float(np.mean([s["categories"][c]["accuracy"] for s in runs if c in s["categories"]]))
                           for c in categories},
            "vs": {other: compare(runs, by_arm[other]) for other in ("grpo_clean", "grpo_random_aug")
                   if other in by_arm and other != name},
            "robustness": robustness_table(name, runs, by_arm),
            "rounds": {str(s["seed"]): s.get("rounds", []) for s in runs},
            "commits": sorted({s["commit"] or "?" for s in runs}),
        }
        arms.append(row)
    order = {n: i for i, n in enumerate([B0, B1, *ARMS])}
    arms.sort(key=lambda r: (order.get(r["arm"], len(order)), r["arm"]))
    results = {"arms": arms, "summaries": len(summaries)}
    atomic_write_json(folder / "results.json", results)
    write_experiment_report(folder, results)
    return results


def robustness_table(arm: str, runs: list[dict], by_arm: dict[str, list[dict]]) -> dict:
    table = {}
    for name in sorted({n for s in runs for n in s.get("robustness", {})}):
        have = [s for s in runs if name in s.get("robustness", {})]
        sets = [s["robustness"][name] for s in have]
        entry = {
            "accuracy": float(np.mean([r["accuracy"] for r in sets])),
            "by_kind": {k: float(np.mean([r["by_kind"][k]["accuracy"] for r in sets if k in r["by_kind"]]))
                        for k in sorted({k for r in sets for k in r["by_kind"]})},
        }
        for other in ("grpo_clean", "grpo_random_aug"):
            theirs = [s for s in by_arm.get(other, []) if name in s.get("robustness", {})]
            if theirs and other != arm:
                entry[f"vs_{other}"] = compare([{**s["robustness"][name], "seed": s["seed"]} for s in have],
                                               [{**s["robustness"][name], "seed": s["seed"]} for s in theirs])
        table[name] = entry
    return table
