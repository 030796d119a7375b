"""The adversarial game (METHOD.md, "The game"): a query model Q learns to rewrite queries so the
FC model F fails while the gold call stays the same, then F learns from those queries.

    stage 0   SFT warm start of F on clean seeds; of Q by back-translation
    round r   select seeds -> Q-phase (GRPO on Q, F frozen) -> harvest (buffer) ->
              F-phase (GRPO on F, adversarial + clean mix) -> evaluate -> checkpoint

The baselines and ablations are the same loop with some steps doing nothing: `advfc.arms` says
which, and the stage methods read it. A run can fork from another run's warm start (`init_from`),
which is how an experiment's arms all start from one B1.

Every stage ends with a checkpoint, so a run killed at any moment resumes at the stage it was in
(`advfc train --resume RUN_DIR`), with the same number of buffer rows and rounds in the end.

Under `accelerate launch` every process runs this loop: the trainers' stages on all of them (TRL
splits each step's batch), the rest on the main process alone (`distributed.main_only`), which
alone writes the run folder and hands its game state to the others with every checkpoint.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import checkpoint, distributed
from .arms import ARMS
from .attack import attack_seeds
from .buffer import AdversarialBuffer, round_summary, whole_seeds
from .curriculum import CurriculumState, advance, bucket, choose_tactics, partial_weight, select_seeds, target_failure
from .data import Example
from .errors import InputError
from .evaluation import EvalConfig, evaluate
from .generation import BASE_ADAPTER, SamplingParams
from .io import append_jsonl, repair_jsonl
from .players import FC, QUERY, Players, grpo_args, lora_config, rows_needed, sft_args
from .prompts import fc_messages, gold_call_text
from .query import MAX_LEVEL, query_messages
from .report import write_run_report
from .rewards import FCReward, QueryPhaseReward, QueryRewardSettings, pass_rates
from .robustness import evaluate_robustness, robustness_set
from .runlog import RunLog, claim_run
from .seeds import TokenBudgets, draw, load_examples, load_seed_pool, target_text, token_budgets, warm_start_examples
from .train_config import TrainConfig
from .validity import Judge, ValidityRules, build_judge

ROUND_STAGES = ("select_seeds", "q_phase", "harvest", "f_phase", "evaluate")


@dataclass
class GameState:
    """Where the run is; saved with every checkpoint."""

    round: int = 1
    stage: str = "warm_start"
    round_seeds: list[str] = field(default_factory=list)
    buffer_rows: int = 0
    metrics_rows: int = 0
    curriculum: dict = field(default_factory=lambda: CurriculumState().to_dict())
    round_log: dict = field(default_factory=dict)
    done: bool = False
    # The dtype `dtype: auto` resolved to when the run began ("" in older checkpoints): a resume or
    # a fork on a CPU where auto would resolve otherwise keeps it instead of mixing dtypes.
    dtype: str = ""


def resume_dtype(wanted: str, recorded: str, path: Path) -> str:
    """The dtype to load a checkpoint's players in: the one it was trained in (`recorded`), unless
    the config asks for another, which would mix two dtypes in one run and is refused."""
    if wanted == "auto" or not recorded:
        return recorded or wanted
    if wanted != recorded:
        raise InputError(f"was trained in {recorded}; dtype {wanted} would mix the two (use dtype: auto or "
                         f"{recorded})", path=path)
    return wanted


class Game:
    def __init__(self, config: TrainConfig, run_dir: Path, log, *, resumed: bool = False):
        self.resumed = resumed
        self.config = config
        self.arm = ARMS[config.arm]
        self.run_dir = run_dir
        self.log = log
        self.buffer = AdversarialBuffer(run_dir / "buffer.jsonl")
        self.metrics_path = run_dir / "metrics.jsonl"
        self.state = GameState()
        self.players: Players | None = None
        self.pool: dict[str, Example] = {}
        self.pool_in_id_order: list[Example] = []  # what a round draws from: the same on every machine and resume
        self.budgets: TokenBudgets | None = None
        self._judge: Judge | None = None

    # ------------------------------------------------------------------ the loop

    def run(self) -> dict:
        c = self.config
        self.open()
        if self.state.stage == "warm_start":
            self.timed("warm_start", self.warm_start)
            self.state.stage = ROUND_STAGES[0]
            self.save()
        while self.state.round <= c.rounds:
            start = ROUND_STAGES.index(self.state.stage)
            for i, stage in enumerate(ROUND_STAGES[start:], start):
                self.timed(stage, getattr(self, stage))
                if stage == ROUND_STAGES[-1]:
                    self.state.round += 1
                    self.state.stage = ROUND_STAGES[0]
                else:
                    self.state.stage = ROUND_STAGES[i + 1]
                self.save()
        if not self.state.done:
            self.finish()
        return self.summary()

    def warm_start(self) -> None:
        """Stage 0: F learns the call format (clean seeds, every category incl. irrelevance);
        Q learns to write a query the gold call answers (back-translation)."""
        c = self.config
        examples = warm_start_examples(list(self.pool.values()), c.warm_start_examples, c.seed)
        if c.eval_base:
            self.evaluate_fc("base", adapter=BASE_ADAPTER)
        if c.warm_start_fc:
            rows = [{"prompt": fc_messages(e), "completion": [{"role": "assistant", "content": target_text(e)}]} for e in examples]
            self.players.sft(FC, rows, self.sft_args(len(examples), "warm_start_fc"),
                             on_log=self.log.trainer_logs("warm_start_fc", self.state.round))
        if c.warm_start_query:
            rows = [
                {"prompt": query_messages(e, gold_call_text(e), with_original=False),
                 "completion": [{"role": "assistant", "content": e.query}]}
                for e in examples
            ]
            self.players.sft(QUERY, rows, self.sft_args(len(examples), "warm_start_query"),
                             on_log=self.log.trainer_logs("warm_start_query", self.state.round))
        self.evaluate_fc("warm_start", adapter=FC)

    @distributed.main_only
    def select_seeds(self) -> None:
        """Curriculum, seed axis: bucket a calibration pool by F's clean pass rate, draw by level.
        Without the curriculum, seeds are drawn uniformly (and their clean pass rates measured);
        a one-off harvest draws every round's worth of seeds at once."""
        c, cur = self.config, self.curriculum
        self.state.round_log = {}
        self.state.round_seeds = []
        if not self.arm.harvests_in(self.state.round):
            return
        rng = random.Random(f"{c.seed}:{self.state.round}:seeds")
        if self.arm.curriculum:
            wanted = c.calibration_pool
        else:
            wanted = c.seeds_per_round * (c.rounds if self.arm.harvest == "once" else 1)
        candidates = [e.id for e in draw(self.pool_in_id_order, wanted, rng, c.pool_draw)]
        rates = pass_rates([self.pool[i] for i in candidates], self.players.generator(FC), self.reward_settings(), self.round_rng_seed(1))
        self.curriculum = CurriculumState.from_dict({**cur.to_dict(), "pass_rates": {**cur.pass_rates, **rates}})
        self.state.round_seeds = select_seeds(rates, c.seeds_per_round, cur.level, rng) if self.arm.curriculum else candidates
        self.state.round_log = {"calibration_pass_rate": sum(rates.values()) / max(len(rates), 1)}

    def q_phase(self) -> None:
        """GRPO on Q for S_Q steps, F frozen; reward r_Q from k F-samples of each rewrite."""
        c = self.config
        if not self.arm.train_query:
            return
        args = self.grpo_args(QUERY, "q")
        rng = random.Random(f"{c.seed}:{self.state.round}:q")
        seeds = [self.pool[i] for i in self.state.round_seeds]
        tactics = choose_tactics(self.curriculum.level, rows_needed(args), rng)
        rows = []
        for i, t in enumerate(tactics):
            seed = seeds[i % len(seeds)]
            rows.append({
                "prompt": query_messages(seed, gold_call_text(seed), t),
                "example": json.dumps(seed.to_dict()),
                "group": f"{i}",
                "tactic": t.name,
            })
        reward = QueryPhaseReward(self.players.generator(FC), self.reward_settings(), self.round_rng_seed(2),
                                  max_new_tokens=args.max_completion_length, eos_token_ids=self.players.stop_token_ids(),
                                  judge=self.judge())
        history = self.players.grpo(QUERY, rows, [reward], args, on_log=self.log.trainer_logs("q_phase", self.state.round))
        self.state.round_log.update(q_reward_mean=_mean(h.get("reward") for h in history), **reward.summary(distributed.gather))

    @distributed.main_only
    def harvest(self) -> None:
        """Sample M queries per seed from Q, validate, score with F, append every one to the buffer."""
        c = self.config
        if not self.arm.harvests_in(self.state.round):
            return
        self.buffer.repair()
        kept = whole_seeds(self.buffer.rows()[self.state.buffer_rows :], c.harvest_per_seed)
        self.buffer.repair(self.state.buffer_rows + kept)
        done = self.buffer.seeds_done(self.state.round)
        todo = [i for i in self.state.round_seeds if i not in done]
        query_gen, fc_gen = self.players.generator(QUERY), self.players.generator(FC)
        total = len(self.state.round_seeds)
        with tqdm(total=total, initial=total - len(todo), desc="harvest", unit="seed", disable=not c.progress) as bar:
            for start in range(0, len(todo), c.harvest_chunk):
                chunk = [self.pool[i] for i in todo[start : start + c.harvest_chunk]]
                self.buffer.append(self.harvest_seeds(chunk, query_gen, fc_gen))
                bar.update(len(chunk))
                self.log.event("harvest", round=self.state.round, seeds_done=total - len(todo) + start + len(chunk), of=total)

    def f_phase(self) -> None:
        """GRPO on F for S_F steps on alpha adversarial (recent rounds weighted) + clean replay."""
        c = self.config
        if not self.arm.f_phase:
            return
        args = self.grpo_args(FC, "f")
        examples = self.f_mix(rows_needed(args))
        rows = [{"prompt": fc_messages(e), "example": json.dumps(e.to_dict())} for e in examples]
        reward = FCReward(w_partial=partial_weight(self.state.round, c.rounds, c.w_partial))
        history = self.players.grpo(FC, rows, [reward], args, on_log=self.log.trainer_logs("f_phase", self.state.round))
        self.state.round_log.update(f_reward_mean=_mean(h.get("reward") for h in history), **reward.summary(distributed.gather))

    @distributed.main_only
    def evaluate(self) -> None:
        """Held-out BFCL categories and the frozen robustness set; log; advance the curriculum."""
        c = self.config
        rows = [r for r in self.buffer.rows() if r["round"] == self.state.round]
        harvest = round_summary(rows)
        scores = self.evaluate_fc(f"round_{self.state.round}", adapter=FC) if c.eval_every_round or self.state.round == c.rounds else None
        cur = self.curriculum
        record = {
            "round": self.state.round,
            "level": cur.level,
            "target_failure": target_failure(cur.level),
            "w_partial": partial_weight(self.state.round, c.rounds, c.w_partial),
            "seed_buckets": _bucket_counts({i: cur.pass_rates[i] for i in self.state.round_seeds if i in cur.pass_rates}),
            **self.state.round_log,
            **{f"harvest/{k}": v for k, v in harvest.items()},
            **({"eval": _eval_numbers(scores)} if scores else {}),
        }
        self.curriculum = advance(
            cur,
            harvest.get("attack_success_at_level", 0.0),
            threshold=c.unlock_threshold,
            max_rounds_per_level=c.max_rounds_per_level,
            round_index=self.state.round,
        )
        record["unlocked_level"] = self.curriculum.level if self.curriculum.level != cur.level else None
        self.state.metrics_rows += append_jsonl(self.metrics_path, [record])
        self.log.round(record)

    def finish(self) -> None:
        self.write_final()
        self.state.done = True
        self.save()

    @distributed.main_only
    def write_final(self) -> None:
        """Final adapters as plain PEFT folders, and the before/after report."""
        self.players.save_adapters(self.run_dir / "final")
        write_run_report(self.run_dir)

    # ------------------------------------------------------------------ pieces

    def harvest_seeds(self, seeds: list[Example], query_gen, fc_gen) -> list[dict]:
        c = self.config
        return attack_seeds(
            seeds, query_gen, fc_gen, self.reward_settings(),
            per_seed=c.harvest_per_seed,
            level=self.curriculum.level,
            round_index=self.state.round,
            q_params=SamplingParams(max_new_tokens=self.budgets.query, temperature=c.q_temperature,
                                    seed=self.round_rng_seed(3)),
            rng_seed=c.seed,
            clean_rates=self.curriculum.pass_rates,
            judge=self.judge(),
        )

    def f_mix(self, n: int) -> list[Example]:
        """alpha of the prompts from valid buffer queries (weight recency_weight^-age), rest clean
        seeds drawn as `pool_draw` says."""
        c = self.config
        rng = random.Random(f"{c.seed}:{self.state.round}:mix")
        alpha = c.alpha if self.arm.adversarial else 0.0
        adversarial = self.buffer.examples()
        n_adv = min(round(alpha * n), len(adversarial)) if adversarial else 0
        if alpha > 0 and not adversarial:
            self.log.event("warning", message=f"round {self.state.round}: no valid adversarial query yet; F trains on clean seeds only")
        weights = [c.recency_weight ** -(self.state.round - row["round"]) for row, _ in adversarial]
        chosen = [adversarial[i][1] for i in _weighted_sample(weights, n_adv, rng)]
        chosen += draw(self.pool_in_id_order, n - n_adv, rng, c.pool_draw)
        rng.shuffle(chosen)
        return chosen

    @distributed.main_only
    def evaluate_fc(self, name: str, adapter: str) -> dict:
        """BFCL held-out categories, plus the frozen robustness set, for one adapter (or the base)."""
        c = self.config
        generator = self.players.generator(adapter)
        config = EvalConfig(
            model=f"{c.model}@{adapter}",
            categories=c.eval_categories,
            limit=c.eval_limit,
            questions=c.eval_questions,
            answers=c.eval_answers,
            out=self.run_dir / "eval" / name,
            max_new_tokens=c.eval_max_new_tokens,
            batch_size=c.generation_batch_size,
            progress=c.progress,
        )
        scores = evaluate(config, generator=generator)
        if c.robustness_per_category:
            pairs = robustness_set(c.eval_categories, c.robustness_per_category)
            robust = config.model_copy(update={"out": config.out / "robustness"})
            scores["robustness"] = evaluate_robustness(generator, robust, pairs)
        self.log.eval(name, scores)
        return scores

    # ------------------------------------------------------------------ settings

    def reward_settings(self) -> QueryRewardSettings:
        c = self.config
        return QueryRewardSettings(
            k=c.k,
            fc_temperature=c.fc_temperature,
            fc_max_new_tokens=self.budgets.fc,
            reward_mode=c.reward_mode,
            target_failure=target_failure(self.curriculum.level),
            lambda_div=c.lambda_div,
            rules=ValidityRules(max_similarity=c.max_similarity, max_length_ratio=c.max_length_ratio),
        )

    def sft_args(self, examples: int, phase: str):
        return sft_args(self.config, self.budgets, examples, self.phase_dir(phase), self.players.device)

    def grpo_args(self, adapter: str, phase: str):
        return grpo_args(self.config, adapter, self.budgets, self.state.round, self.phase_dir(phase), self.players.device)

    def judge(self) -> Judge | None:
        if self.config.judge_model and self._judge is None:
            self._judge = build_judge(self.config.judge_model, batch_size=self.config.generation_batch_size)
        return self._judge

    def use_pool(self, examples: list[Example]) -> None:
        """The seed pool, by id, in the order loaded (the warm start samples it in that order)."""
        self.pool = {e.id: e for e in examples}
        self.pool_in_id_order = [self.pool[i] for i in sorted(self.pool)]

    def round_rng_seed(self, salt: int) -> int:
        return self.config.seed * 1_000_003 + self.state.round * 101 + salt

    def phase_dir(self, name: str) -> Path:
        return self.run_dir / "phases" / (name if name.startswith("warm") else f"round_{self.state.round}_{name}")

    @property
    def curriculum(self) -> CurriculumState:
        return CurriculumState.from_dict(self.state.curriculum)

    @curriculum.setter
    def curriculum(self, value: CurriculumState) -> None:
        self.state.curriculum = value.to_dict()

    # ------------------------------------------------------------------ persistence

    def open(self) -> None:
        """Load the seed pool and the players, from the last checkpoint when resuming."""
        c = self.config
        warn = lambda message: self.log.event("warning", message=message)  # noqa: E731
        examples = load_examples(c)  # every record validated before the model loads
        found = checkpoint.load_latest(self.run_dir, GameState, warn)
        forked = not found and c.init_from is not None
        if forked:
            found = self.warm_start_of(c.init_from, warn)
        lora = lora_config(c)
        if found:
            path, self.state, trainer = found
            self.players = Players.create(c.model, lora, dtype=resume_dtype(c.dtype, self.state.dtype, path), adapters=path / "adapters",
                                          generation_batch_size=c.generation_batch_size,
                                          progress=c.progress, verbose=c.verbose)
            self.players.load_optimizer_state(trainer["optimizers"], {FC: c.f_lr, QUERY: c.q_lr})
            checkpoint.set_rng_state(trainer["rng"], path=path)
            if distributed.is_main():
                repair_jsonl(self.metrics_path, self.state.metrics_rows)
        else:
            random.seed(c.seed)
            torch.manual_seed(c.seed)
            self.players = Players.create(c.model, lora, dtype=c.dtype, generation_batch_size=c.generation_batch_size,
                                          progress=c.progress, verbose=c.verbose)
        self.state.dtype = self.players.dtype
        if (not found or forked) and not self.arm.curriculum:
            self.curriculum = CurriculumState(level=MAX_LEVEL)  # the top tactic level is open from round 1
        if forked:
            self.log.event("forked", init_from=str(c.init_from))
        if self.resumed:
            self.log.event("resumed", round=self.state.round, stage=self.state.stage, buffer_rows=self.state.buffer_rows)
        self.use_pool(load_seed_pool(c, self.players.tokenizer, warn, examples))
        if not self.pool:
            raise InputError("no training seed fits max_prompt_tokens; raise it or choose other train data")
        if c.budgets_from_seeds:
            self.budgets = token_budgets(list(self.pool.values()), self.players.tokenizer,
                                         q_floor=c.q_max_new_tokens, f_floor=c.f_max_new_tokens)
        else:
            self.budgets = TokenBudgets(c.q_max_new_tokens, c.f_max_new_tokens, 0, 0)
        self.log.event("budgets", **asdict(self.budgets))
        self.log.event("launch", processes=distributed.processes())
        if distributed.processes() > 1:
            for adapter, phase in ((QUERY, "q"), (FC, "f")):
                self.grpo_args(adapter, phase)  # refuses a batch the processes cannot split: now, not after the warm start
        # The main process must not replace the checkpoint (its next save) while another still loads it.
        distributed.wait()

    def warm_start_of(self, folder: Path, warn) -> tuple:
        """(checkpoint path, a fresh round-1 state, trainer state) of another run's warm start:
        its adapters, optimisers and RNG state exactly as its first round would have found them."""
        found = checkpoint.load_latest(folder, GameState, warn)
        if found is None or found[1].stage == "warm_start" or found[1].round != 1:
            raise InputError("init_from must be a run folder whose warm start finished and whose rounds did not start "
                             "(e.g. an `--arm sft --rounds 0` run)", path=folder)
        path, state, trainer = found
        return path, GameState(stage=ROUND_STAGES[0], dtype=state.dtype), trainer

    def save(self) -> None:
        if distributed.is_main():
            self.state.buffer_rows = len(self.buffer)
            checkpoint.save(self.run_dir, self.players, asdict(self.state))
        # The main process alone ran the stages outside the trainers: the others take its state.
        self.state = distributed.share(self.state)

    def timed(self, stage: str, fn) -> None:
        self.log.event("stage", round=self.state.round, stage=stage, status="start")
        t = time.perf_counter()
        fn()
        seconds = round(time.perf_counter() - t, 1)
        self.state.round_log[f"seconds/{stage}"] = seconds
        self.log.event("stage", round=self.state.round, stage=stage, status="end", seconds=seconds)

    def summary(self) -> dict:
        return {"run_dir": str(self.run_dir), "rounds": self.state.round - 1, "buffer_rows": len(self.buffer)}


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _weighted_sample(weights: list[float], k: int, rng: random.Random) -> list[int]:
    """k distinct indices, each draw proportional to weight (Efraimidis-Spirakis keys)."""
    keys = sorted(range(len(weights)), key=lambda i: rng.random() ** (1 / weights[i]), reverse=True)
    return keys[:k]


def _bucket_counts(rates: dict[str, float]) -> dict[str, int]:
    return dict(Counter(bucket(p) for p in rates.values()))


def _eval_numbers(scores: dict) -> dict:
    return {k: v for k, v in scores.items() if k not in ("run", "error_types")}


def run_training(config: TrainConfig) -> dict:
    """`advfc train`: start a run in `output_dir`, or continue the one in `resume` (the folder is
    locked while the run lives)."""
    with claim_run(config) as (config, run_dir, resumed):
        log = RunLog(run_dir, rounds=config.rounds, tensorboard="tensorboard" in config.report_to, active=distributed.is_main())
        return Game(config, run_dir, log, resumed=resumed).run()
