"""Several processes under `accelerate launch` (docs/scaling.md, "Several processes").

Every process runs the same game loop on its own copy of the players, and TRL's trainers split
each step's batch over them (DDP). Everything outside the trainers belongs to the main process:
it alone claims the run folder, samples for seed calibration, the harvest and evaluation, and
writes the buffer, metrics, events, checkpoints and reports. The others wait for it at the end of
every stage, where it hands them the game state. In one process every helper here is a no-op.
"""

from __future__ import annotations

import functools
from datetime import timedelta

import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list, gather_object

from .errors import InputError

# How long a process waits at a barrier. The others wait there while the main process alone
# calibrates seeds, harvests and evaluates, which takes hours on a large model; torch's default
# of 30 minutes would kill such a run. A process that dies ends the others through the launcher.
BARRIER_TIMEOUT = timedelta(hours=24)


def state() -> PartialState:
    """The launcher's processes. Created here before the model loads, so that each process's GPU
    is set and the process group gets BARRIER_TIMEOUT (TrainingArguments later re-creates this
    object and finds the group in place). `cpu` as the trainers get it: on the CPU without a GPU."""
    return PartialState(cpu=not torch.cuda.is_available(), timeout=BARRIER_TIMEOUT)


def processes() -> int:
    return state().num_processes


def is_main() -> bool:
    return state().is_main_process


def main_only(fn):
    """Run `fn` on the main process; the others skip it (None) and take its results from `share`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs) if is_main() else None

    return wrapper


def share(obj):
    """The main process's `obj`, on every process (every process waits for the main one here)."""
    state()
    return broadcast_object_list([obj])[0]


def gather(items: list) -> list:
    """`items` of every process, in process order, on every process."""
    state()
    return gather_object(items)


def wait() -> None:
    state().wait_for_everyone()


def per_process(total: int, name: str) -> int:
    """Each process's share of a batch of `total` (the config field `name`): the processes together
    take a step over as many rows as one process would."""
    n = processes()
    if total % n:
        raise InputError(f"{name} ({total}) must be a multiple of the {n} processes, which take equal shares of a step's batch")
    return total // n


def finish() -> None:
    """Every process leaves together and the process group is torn down before the interpreter
    exits: a process that left early, its gloo group still open, could abort at exit (SIGABRT,
    "terminate called without an active exception") and fail the launch."""
    if processes() > 1:
        wait()
        state().destroy_process_group()
