"""What a training run tells the world: `events.jsonl` (stage starts/ends, trainer steps, harvest progress,
warnings, resumes), the console, and TensorBoard scalars for every round's metrics."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from .io import append_jsonl


def flatten(d: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = float(v)
    return out


class RunLog:
    def __init__(self, run_dir: Path, *, rounds: int, tensorboard: bool, console: Console | None = None):
        self.rounds = rounds
        self.path = run_dir / "events.jsonl"
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tb" / "game"))

    def event(self, kind: str, **fields) -> None:
        append_jsonl(self.path, [{"time": round(time.time(), 3), "event": kind, **fields}])
        if kind == "stage":
            if fields["status"] == "start":
                where = "stage 0" if fields["stage"] == "warm_start" else f"round {fields['round']}/{self.rounds}"
                self.console.print(f"[bold cyan]{where}[/] · {fields['stage']} …")
            else:
                self.console.print(f"  done in {fields['seconds']:.0f}s")
        elif kind == "warning":
            self.console.print(f"[yellow]warning:[/] {fields['message']}")
        elif kind == "resumed":
            self.console.print(f"resuming at round {fields['round']}, stage {fields['stage']}")

    def trainer_logs(self, phase: str, game_round: int):
        """An `on_log` for one trainer run: each trainer log becomes a `train` event (step, loss, reward)."""

        def on_log(step: int, max_steps: int, logs: dict) -> None:
            self.event("train", round=game_round, phase=phase, step=step, of=max_steps, **flatten(logs))

        return on_log

    def round(self, record: dict) -> None:
        r = record["round"]
        h = {k.split("/", 1)[1]: v for k, v in record.items() if k.startswith("harvest/")}
        self.console.print(
            f"[bold]round {r}[/]: level {record['level']}, validity {_pct(h.get('validity_rate'))}, "
            f"F clean {_pct(h.get('fc_accuracy_clean'))} vs adversarial {_pct(h.get('fc_accuracy_adversarial'))}, "
            f"attack success {_pct(h.get('attack_success'))}"
        )
        if self.writer:
            for key, value in flatten(record).items():
                self.writer.add_scalar(key, value, r)
            self.writer.flush()

    def eval(self, name: str, scores: dict) -> None:
        summary = scores.get("summary", {})
        self.console.print(f"eval [{name}]: " + ", ".join(f"{k} {_pct(v)}" for k, v in summary.items()))
        if self.writer:
            for key, value in flatten({k: v for k, v in scores.items() if k != "run"}).items():
                self.writer.add_scalar(f"eval_{name}/{key}", value, 0)
            self.writer.flush()


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
