"""`advfc train` settings: one pydantic model, each field a CLI flag and a YAML key (TRL-style), and the
TRL/PEFT sections (lora, grpo, q_grpo, f_grpo, sft) that go to those libraries' configs as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .config import BaseConfig, Categories, answers_need_questions
from .arms import ARM_NAMES
from .data import LIVE, NON_LIVE
from .players import SECTIONS, section_error
from .seeds import POOL_DRAWS

TRAIN_CATEGORIES = [c for c in LIVE if c != "live_relevance"]
# How a run reports, or how much memory it needs, not what it computes: the only fields `--resume`
# takes besides the folder. Gradient checkpointing recomputes the same activations in the backward
# pass (the kill/resume test switches it on for some resumes and ends with identical adapters).
RESUME_OVERRIDES = ("progress", "verbose", "gradient_checkpointing")
# What only the rounds read: a run of no rounds (the warm start alone, B1) does not depend on them.
ROUND_FIELDS = (
    "seeds_per_round", "calibration_pool", "pool_draw",
    "q_steps", "q_batch_size", "q_num_generations", "q_max_new_tokens", "q_temperature", "q_lr", "k", "fc_temperature",
    "reward_mode", "lambda_div", "max_similarity", "max_length_ratio", "judge_model",
    "harvest_per_seed", "harvest_chunk",
    "f_steps", "f_batch_size", "f_num_generations", "f_max_new_tokens", "f_temperature", "f_lr", "alpha",
    "recency_weight", "w_partial", "unlock_threshold", "max_rounds_per_level", "eval_every_round",
    "grpo", "q_grpo", "f_grpo",
)


class TrainConfig(BaseConfig):
    # --- model and adapters
    model: str = Field("embedded", description="Base model for both players: embedded, tiny, a folder or a hub id.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="Model dtype.")
    lora: dict[str, Any] = Field(
        {}, description="peft.LoraConfig keys of both adapters, over r 16, lora_alpha 32, lora_dropout 0.05, "
        "target_modules all-linear (YAML only).",
    )

    # --- data
    train_data: str = Field(
        "bfcl",
        description="bfcl (train side of the split), an xLAM .json/.jsonl file or hub id, or openai:FILE.jsonl.",
    )
    train_categories: Categories = Field(TRAIN_CATEGORIES, description="BFCL categories to draw seeds from (train_data=bfcl).")
    max_prompt_tokens: int = Field(768, ge=64, description="Skip seeds whose FC prompt is longer (CPU runs need short prompts).")
    max_seeds: int | None = Field(None, ge=1, description="Cap on the seed pool (a deterministic sample).")

    # --- stage 0: warm starts
    warm_start_fc: bool = Field(True, description="SFT of F on clean seeds before the game.")
    warm_start_query: bool = Field(True, description="SFT of Q by back-translation before the game.")
    warm_start_examples: int = Field(96, ge=1, description="Seeds in the warm-start set (every category represented).")
    warm_start_epochs: float = Field(1.0, gt=0, le=1000, description="Passes over the warm-start set.")
    warm_start_lr: float = Field(2e-4, gt=0, description="Warm-start learning rate.")
    warm_start_batch_size: int = Field(4, ge=1, description="Warm-start batch size.")

    # --- the game
    rounds: int = Field(2, ge=0, description="Rounds of Q-phase, harvest, F-phase, evaluation.")
    seeds_per_round: int = Field(8, ge=1, description="Seeds attacked per round (chosen by the curriculum).")
    calibration_pool: int = Field(32, ge=1, description="Seeds whose clean pass rate is measured to bucket difficulty.")
    pool_draw: Literal[POOL_DRAWS] = Field(
        "uniform",
        description="How the rounds draw seeds from the pool (the seeds Q attacks, the F-phase's clean prompts): uniform "
        "(the pool's category shares; the live pool is about half live_irrelevance) or stratified (categories in turn).",
    )
    arm: Literal[ARM_NAMES] = Field(
        "advfc",
        description="Which steps of the round do work (advfc.arms): advfc (the game), sft (B1: warm start only), grpo_clean "
        "(B2), grpo_random_aug (B3: rewrites of the untrained Q), no_curriculum, frozen_q.",
    )
    init_from: Path | None = Field(
        None,
        description="Fork: start from this run folder's warm start (its checkpoint after stage 0) instead of running one.",
    )

    # --- Q-phase
    q_steps: int = Field(4, ge=1, description="GRPO steps of Q per round (S_Q).")
    q_batch_size: int = Field(4, ge=1, description="Rewrites per GRPO step (a multiple of q_num_generations).")
    q_num_generations: int = Field(4, ge=2, description="GRPO group size for Q.")
    q_max_new_tokens: int = Field(48, ge=8, description="Longest rewrite (a floor when budgets_from_seeds).")
    q_temperature: float = Field(1.0, gt=0, description="Sampling temperature of Q.")
    q_lr: float = Field(2e-5, gt=0, description="Q learning rate.")
    k: int = Field(4, ge=1, description="FC samples per rewrite to estimate p-hat.")
    fc_temperature: float = Field(0.7, ge=0, description="Sampling temperature of F when estimating p-hat.")
    reward_mode: Literal["zero_sum", "frontier"] = Field("zero_sum", description="r_Q = 1 - p-hat, or peaked at the target failure rate.")
    lambda_div: float = Field(0.2, ge=0, description="Diversity penalty weight (max similarity within a group).")
    max_similarity: float = Field(0.9, gt=0, le=1, description="Validity: a rewrite at least this similar to the original is rejected.")
    max_length_ratio: float = Field(3.0, gt=0, description="Validity: longest rewrite relative to the original.")
    judge_model: str | None = Field(None, description="Optional reference model (folder, hub id or endpoint) that must agree a rewrite asks for the same call.")
    budgets_from_seeds: bool = Field(
        True,
        description="Raise q_max_new_tokens / f_max_new_tokens to fit the seed pool: F's to its longest gold call, Q's to 1.5x its 95th-percentile query.",
    )

    # --- harvest
    harvest_per_seed: int = Field(4, ge=1, description="Queries sampled per seed from Q (M).")
    harvest_chunk: int = Field(4, ge=1, description="Seeds generated together (and appended to the buffer together).")

    # --- F-phase
    f_steps: int = Field(4, ge=1, description="GRPO steps of F per round (S_F).")
    f_batch_size: int = Field(4, ge=1, description="Completions per GRPO step (a multiple of f_num_generations).")
    f_num_generations: int = Field(4, ge=2, description="GRPO group size for F.")
    f_max_new_tokens: int = Field(64, ge=8, description="Longest FC answer during training (a floor when budgets_from_seeds).")
    f_temperature: float = Field(1.0, gt=0, description="Sampling temperature of F in GRPO.")
    f_lr: float = Field(2e-5, gt=0, description="F learning rate.")
    alpha: float = Field(0.5, ge=0, le=1, description="Share of adversarial prompts in the F-phase mix.")
    recency_weight: float = Field(2.0, ge=1, description="An adversarial query one round older is this many times less likely.")
    w_partial: float = Field(0.5, ge=0, le=1, description="Weight of partial credit in r_F (annealed by the curriculum).")

    # --- curriculum
    unlock_threshold: float = Field(0.5, ge=0, le=1, description="Attack success rate that unlocks the next tactic level.")
    max_rounds_per_level: int = Field(2, ge=1, description="A level unlocks after this many rounds anyway.")

    # --- evaluation
    eval_categories: Categories = Field(list(NON_LIVE), description="Held-out BFCL categories evaluated.")
    eval_limit: int | None = Field(16, ge=1, description="Items per category (None: all held-out items).")
    eval_questions: Path | None = Field(
        None, description="Evaluate this BFCL-format question file instead of eval_categories (e.g. an experiment's frozen sample).",
    )
    eval_answers: Path | None = Field(None, description="With eval_questions: its BFCL-format possible-answer file.")
    eval_max_new_tokens: int = Field(128, ge=8, description="Generation budget per evaluated answer.")
    eval_base: bool = Field(True, description="Also evaluate the base model before the warm start.")
    eval_every_round: bool = Field(True, description="Evaluate after every round (else after the last).")
    robustness_per_category: int = Field(8, ge=0, description="Items per category in the frozen robustness set (0: off).")

    # --- TRL's own settings, passed to its configs as written (docs/method.md, "Training settings")
    grpo: dict[str, Any] = Field({}, description="trl.GRPOConfig keys of both players' game phases (YAML only).")
    q_grpo: dict[str, Any] = Field({}, description="trl.GRPOConfig keys of Q's phases, over grpo (YAML only).")
    f_grpo: dict[str, Any] = Field({}, description="trl.GRPOConfig keys of F's phases, over grpo (YAML only).")
    sft: dict[str, Any] = Field({}, description="trl.SFTConfig keys of both warm starts (YAML only).")

    # --- run
    output_dir: Path = Field(Path("runs/advfc"), description="Run folder: checkpoints, buffer, metrics, logs, report.")
    resume: Path | None = Field(None, description="Continue the run in this folder with its saved config.")
    seed: int = Field(0, description="Seed of every sampling decision in the run.")
    report_to: list[str] = Field(["tensorboard"], description="TRL report_to integrations (tensorboard works offline; none to disable).")
    gradient_checkpointing: bool = Field(
        False,
        description="Recompute activations in backward passes (TRL's default is on): less memory, more compute.",
    )
    generation_batch_size: int = Field(16, ge=1, description="Rows per forward pass when sampling F and Q outside TRL.")
    progress: bool = Field(True, description="Progress bars.")
    verbose: bool = Field(
        False, description="Also print the trainers' per-step log dictionaries and library warnings (always in events.jsonl)."
    )

    @field_validator("report_to")
    @classmethod
    def _report_to(cls, value: list[str]) -> list[str]:
        return [] if value in (["none"], []) else value

    @field_validator(*SECTIONS)
    @classmethod
    def _sections_fit_their_configs(cls, value: dict, info: ValidationInfo) -> dict:
        problem = section_error(info.field_name, value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _resume_takes_the_saved_config(self):
        given = sorted(self.model_fields_set - {"resume", *RESUME_OVERRIDES})
        if self.resume is not None and given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ValueError(
                f"--resume continues a run with its saved config.yaml, so {flags} would be ignored; "
                "drop it, or start a new run with --output-dir"
            )
        return self

    @model_validator(mode="after")
    def _answers_go_with_questions(self):
        # checked now: the evaluation that reads them runs only after the warm start has trained
        answers_need_questions(self.eval_questions, self.eval_answers, ("eval_questions", "eval_answers"))
        return self

    @model_validator(mode="after")
    def _batches_hold_whole_groups(self):
        for player in ("q", "f"):
            batch, group = getattr(self, f"{player}_batch_size"), getattr(self, f"{player}_num_generations")
            if batch % group:
                raise ValueError(f"{player}_batch_size ({batch}) must be a multiple of {player}_num_generations ({group})")
        return self
