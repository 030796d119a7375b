"""A training run's folder and what the run tells the world: the folder is claimed and locked for
the life of the run (`claim_run`); `events.jsonl` (stage starts/ends, trainer steps, harvest
progress, warnings, resumes), the console, and TensorBoard scalars for every round's metrics.
Under several processes the main one alone claims the folder and reports (`advfc.distributed`)."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from . import distributed
from .errors import InputError
from .io import append_jsonl, atomic_write_text, make_dirs
from .train_config import RESUME_OVERRIDES, TrainConfig

CONFIG = "config.yaml"
# The first line of a run's saved config: what tells a run folder from any folder with a config.yaml.
CONFIG_HEADER = "# advfc run: the resolved config of this run; continue it with `advfc train --resume <this folder>`\n"


def is_run_dir(path: Path) -> bool:
    config = path / CONFIG
    if not config.is_file():
        return False
    with config.open("rb") as f:
        head = f.read(len(CONFIG_HEADER.encode()))
    return head == CONFIG_HEADER.encode() or (path / "events.jsonl").is_file()


def check_run_dir(path: Path) -> Path:
    if not is_run_dir(path):
        why = f"its {CONFIG} was not written by `advfc train`" if (path / CONFIG).exists() else f"no {CONFIG}"
        raise InputError(f"not a run folder ({why})", path=path)
    return path


@contextmanager
def lock(run_dir: Path) -> Iterator[None]:
    """An exclusive lock on the run folder itself (no lock file), held until the block ends or the
    process dies."""
    fd = os.open(run_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError("another advfc process is running in this run folder", path=run_dir) from None
        yield
    finally:
        os.close(fd)


@contextmanager
def claim_run(config: TrainConfig) -> Iterator[tuple[TrainConfig, Path, bool]]:
    """(config, run folder, resumed) for `advfc train`, the folder locked while the block runs.

    A new run needs an absent or empty `output_dir`; `resume` needs a run folder, whose saved
    config is the run's config (only `progress` and `verbose` may differ). Nothing is written before the lock is
    held and every check has passed. Under several processes the main one claims the folder and
    hands the others what it found; if it fails, the launcher ends them."""
    if not distributed.is_main():
        yield distributed.share(None)
        return
    with _claim(config) as claimed:
        yield distributed.share(claimed)


@contextmanager
def _claim(config: TrainConfig) -> Iterator[tuple[TrainConfig, Path, bool]]:
    resumed = config.resume is not None
    run_dir = Path(config.resume if resumed else config.output_dir)
    if resumed:
        check_run_dir(run_dir)
    else:
        make_dirs(run_dir)
    with lock(run_dir):
        if resumed:
            reporting = {k: getattr(config, k) for k in RESUME_OVERRIDES if k in config.model_fields_set}
            config = TrainConfig.load(run_dir / CONFIG, **reporting)
        else:
            if is_run_dir(run_dir):
                raise InputError("already holds a run; continue it with --resume, or choose another --output-dir", path=run_dir)
            if any(run_dir.iterdir()):
                raise InputError("is not empty; a new run needs an empty or new --output-dir", path=run_dir)
            atomic_write_text(run_dir / CONFIG, CONFIG_HEADER + config.model_copy(update={"resume": None}).to_yaml())
        yield config, run_dir, resumed


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
    """`active`: whether this process reports (the main one of several); an inactive log drops everything."""

    def __init__(self, run_dir: Path, *, rounds: int, tensorboard: bool, console: Console | None = None, active: bool = True):
        self.rounds = rounds
        self.active = active
        self.path = run_dir / "events.jsonl"
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.writer = None
        if tensorboard and active:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tb" / "game"))

    def event(self, kind: str, **fields) -> None:
        if not self.active:
            return
        append_jsonl(self.path, [{"time": round(time.time(), 3), "event": kind, **fields}])
        if kind == "stage" and fields["status"] == "end":
            where = "stage 0" if fields["stage"] == "warm_start" else f"round {fields['round']}/{self.rounds}"
            self.console.print(f"[bold cyan]{where}[/] · {fields['stage']:<12} {_duration(fields['seconds'])}")
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
        if not self.active:
            return
        r = record["round"]
        h = {k.split("/", 1)[1]: v for k, v in record.items() if k.startswith("harvest/")}
        rejected = ", ".join(f"{reason} {n}" for reason, n in list((h.get("rejections") or {}).items())[:3])
        self.console.print(
            f"[bold]round {r}[/]: level {record['level']}, validity {_pct(h.get('validity_rate'))} "
            f"(truncated {_pct(h.get('truncation_rate'))}{'; rejected for ' + rejected if rejected else ''}), "
            f"F clean {_pct(h.get('fc_accuracy_clean'))} vs adversarial {_pct(h.get('fc_accuracy_adversarial'))}, "
            f"attack success {_pct(h.get('attack_success'))}"
        )
        if self.writer:
            for key, value in flatten(record).items():
                self.writer.add_scalar(key, value, r)
            self.writer.flush()

    def eval(self, name: str, scores: dict) -> None:
        if not self.active:
            return
        summary = scores.get("summary", {})
        shown = ", ".join(f"{k} {_pct(v)}" for k, v in summary.items() if v is not None)
        self.console.print(f"  held-out ({name}): {shown or 'no summary column evaluated'}", markup=False, highlight=False)
        if self.writer:
            for key, value in flatten({k: v for k, v in scores.items() if k != "run"}).items():
                self.writer.add_scalar(f"eval_{name}/{key}", value, 0)
            self.writer.flush()


def quiet_libraries(verbose: bool) -> None:
    """What a user sees of the libraries: no deprecation and future warnings raised inside them,
    no per-map progress bars of datasets, no weight-loading bars; `verbose` keeps everything.
    Called once by the commands that train or attack (a console setting, so it lives at the edge)."""
    if verbose:
        return
    import warnings

    for category in (FutureWarning, DeprecationWarning, UserWarning):
        for library in ("transformers", "trl", "peft", "torch", "accelerate", "datasets"):
            warnings.filterwarnings("ignore", category=category, module=library)
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
