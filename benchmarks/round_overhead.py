"""Orchestration overhead of one game round: wall time vs the model compute inside it, one run.

The game's cost should be its generation and update work (forward passes, backward passes,
optimiser steps); everything around them (tokenising, the BFCL checker, validity rules, trainer
construction, checkpoints, logging, evaluation bookkeeping) is orchestration, and the goal is that
it stays at or below 20% of a round's wall time. This runs `advfc train` in-process on a config
(default: configs/smoke.yaml) with timers wrapped around those calls, and prints, for every stage
(each including the checkpoint that follows it), the wall time, the work inside it, the overhead
share and where the overhead went, plus the process's peak RSS (both players share one base).
Model loading (`open`), the warm start and `finish` are reported apart from the rounds.

Timers keep self time: a call timed inside another timed call (a forward pass inside a generation
loop, the checker inside a reward function) is taken out of the outer one, so the columns of a
row add up to its wall time, with "other" the time inside no timed call. Behaviour is unchanged:
the wrappers only call through.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/round_overhead.py
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/round_overhead.py \
        --config configs/demo.yaml --rounds 1 --set warm_start_examples=8 --set eval_base=false

(`--rounds` and `--set FIELD=VALUE` override the config.) On a shared machine keep torch to one
thread: with two threads on two busy cores, small ops spin on each other and "work" swells.
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

import accelerate
import datasets
import torch
import transformers
import trl
import yaml
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

import advfc.checker
import advfc.checkpoint
import advfc.game
import advfc.generation.hf
import advfc.prompts
import advfc.rewards
import advfc.runlog
import advfc.scoring
import advfc.seeds
import advfc.validity
from advfc.game import Game
from advfc.players import Players
from advfc.train_config import TrainConfig

FWD_GEN, FWD_TRAIN, BACKWARD, OPTIMIZER = "forward (generation)", "forward (training)", "backward", "optimizer"
WORK = (FWD_GEN, FWD_TRAIN, BACKWARD, OPTIMIZER)
GENERATION_LOOP = "generation loop"


class Meter:
    """Self seconds per label: entering a label pauses the one below it on the stack."""

    def __init__(self):
        self.seconds = Counter()
        self.stack: list[list] = []  # [label, resumed_at]

    def enter(self, label: str) -> None:
        now = time.perf_counter()
        if self.stack:
            self.seconds[self.stack[-1][0]] += now - self.stack[-1][1]
        self.stack.append([label, now])

    def exit(self) -> None:
        now = time.perf_counter()
        label, since = self.stack.pop()
        self.seconds[label] += now - since
        if self.stack:
            self.stack[-1][1] = now

    def wrap(self, owner, name: str, label: str) -> None:
        fn = getattr(owner, name)

        def timed(*args, **kwargs):
            self.enter(label)
            try:
                return fn(*args, **kwargs)
            finally:
                self.exit()

        setattr(owner, name, timed)


meter = Meter()

# ----------------------------------------------------------------------------- the work
# Forward passes: hooks on the base causal LM that both adapters wrap, so every path (advfc's
# HFGenerator, TRL's generate and loss, PEFT's wrapper) counts once per top-level call.


def forward_pre_hook(module, args):
    meter.enter(FWD_GEN if any(label == GENERATION_LOOP for label, _ in meter.stack) else FWD_TRAIN)


def forward_hook(module, args, output):
    meter.exit()


create = Players.create


def create_with_hooks(*args, **kwargs):
    players = create(*args, **kwargs)
    base = players.model.get_base_model()
    base.register_forward_pre_hook(forward_pre_hook)
    base.register_forward_hook(forward_hook, always_call=True)
    return players


Players.create = create_with_hooks
meter.wrap(Players, "create", "model load")
meter.wrap(torch.Tensor, "backward", BACKWARD)
meter.wrap(accelerate.Accelerator, "clip_grad_norm_", OPTIMIZER)
register_optimizer_step_pre_hook(lambda opt, args, kwargs: meter.enter(OPTIMIZER))
register_optimizer_step_post_hook(lambda opt, args, kwargs: meter.exit())

# ----------------------------------------------------------------------------- the orchestration
# Each name where its callers look it up (a module that did `from .checker import check` keeps
# its own reference).

meter.wrap(advfc.generation.hf.HFGenerator, "generate", GENERATION_LOOP)
meter.wrap(transformers.GenerationMixin, "generate", GENERATION_LOOP)
for name in ("__call__", "apply_chat_template", "decode", "batch_decode"):
    meter.wrap(transformers.PreTrainedTokenizerBase, name, "tokenizer + chat template")
for module in (advfc.prompts, advfc.seeds):
    meter.wrap(module, "render_chat", "tokenizer + chat template")
for module, name in ((advfc.checker, "check"), (advfc.rewards, "check"), (advfc.scoring, "check")):
    meter.wrap(module, name, "BFCL checker")
meter.wrap(advfc.validity, "check_rewrite", "validity rules")
meter.wrap(advfc.rewards, "max_similarity", "validity rules")
meter.wrap(advfc.rewards.QueryPhaseReward, "__call__", "reward glue")
meter.wrap(advfc.rewards.FCReward, "__call__", "reward glue")
meter.wrap(transformers.Trainer, "train", "TRL trainer loop")
meter.wrap(trl.GRPOTrainer, "__init__", "trainer construction")
meter.wrap(trl.SFTTrainer, "__init__", "trainer construction")
meter.wrap(datasets.Dataset, "from_list", "datasets")
meter.wrap(datasets.Dataset, "map", "datasets")
meter.wrap(advfc.checkpoint, "save", "checkpoint save")
meter.wrap(advfc.game, "evaluate", "evaluation bookkeeping")
meter.wrap(advfc.game, "evaluate_robustness", "evaluation bookkeeping")
meter.wrap(advfc.generation.hf, "weights_fingerprint", "weights fingerprint")  # looked up by HFGenerator.describe
for name in ("event", "round", "eval"):
    meter.wrap(advfc.runlog.RunLog, name, "run log + TensorBoard")
meter.wrap(transformers.Trainer, "log", "run log + TensorBoard")

# ----------------------------------------------------------------------------- segments
# A segment runs from one mark to the next: `open`, each stage (with its checkpoint), `finish`.

marks: list[tuple[str, float, Counter, int]] = []  # (segment, start, seconds so far, peak RSS KiB)


def mark(segment: str) -> None:
    marks.append((segment, time.perf_counter(), Counter(meter.seconds), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def marked(name: str, segment):
    fn = getattr(Game, name)

    def call(self, *args, **kwargs):
        mark(segment(self, *args))
        return fn(self, *args, **kwargs)

    setattr(Game, name, call)


marked("open", lambda game: "open")
marked("timed", lambda game, stage, fn: stage if stage == "warm_start" else f"round {game.state.round} · {stage}")
marked("finish", lambda game: "finish")

# ----------------------------------------------------------------------------- run

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--config", default="configs/smoke.yaml")
parser.add_argument("--rounds", type=int, help="override the config's rounds")
parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="any TrainConfig field (YAML value)")
args = parser.parse_args()
overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
if args.rounds is not None:
    overrides["rounds"] = args.rounds
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

with tempfile.TemporaryDirectory() as tmp:
    config = TrainConfig.load(args.config, output_dir=Path(tmp) / "run", **overrides)
    advfc.game.run_training(config)
    mark("end")

# ----------------------------------------------------------------------------- report

rows = []  # (segment, wall seconds, self seconds per label, peak RSS KiB at its end)
for (segment, start, before, _), (_, end, after, rss) in zip(marks, marks[1:]):
    spent = after - before
    rows.append((segment, end - start, {**spent, "other": end - start - sum(spent.values())}, rss))


def total(name, parts):
    spent = Counter()
    for _, _, s, _ in parts:
        spent.update(s)
    return (f"**{name}**", sum(p[1] for p in parts), spent, parts[-1][3])


report = []
for r in range(1, config.rounds + 1):
    stages = [row for row in rows if row[0].startswith(f"round {r} ·")]
    report += [*stages, total(f"round {r} total", stages)]
report += [row for row in rows if not row[0].startswith("round ")]
in_rounds = total("rounds", [row for row in rows if row[0].startswith("round ")])[2]
labels = {label for _, _, s, _ in rows for label in s if label not in WORK}
orchestration = sorted(labels, key=lambda label: (label == "other", -in_rounds[label]))  # costliest in a round first


def table(title, labels, segments):
    print(f"\n{title}\n")
    print("| segment | wall s | " + " | ".join(labels) + " | work | overhead |")
    print("|---|---:|" + "---:|" * (len(labels) + 2))
    for segment, wall, s, _ in segments:
        work = sum(s.get(label, 0) for label in WORK)
        cells = "".join(f"{s.get(label, 0):.2f} | " for label in labels)
        print(f"| {segment} | {wall:.2f} | {cells}{work:.2f} | {(wall - work) / wall:.0%} |")


print(f"\nconfig {args.config}, rounds {config.rounds}, overrides {overrides or 'none'}; "
      f"python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, "
      f"trl {trl.__version__}, {torch.get_num_threads()} torch threads")
table("Work (seconds) and overhead share, (wall - work) / wall:", WORK, report)
table("Where the orchestration goes (seconds, self time):", orchestration, report)
print("\n| after segment | peak RSS MiB |\n|---|---:|")
print(f"| (imports, before the run) | {rss_before / 1024:.0f} |")
for segment, _, _, rss in rows:
    print(f"| {segment} | {rss / 1024:.0f} |")
