"""`advfc train` under `accelerate launch` with two CPU processes (gloo, configs/accelerate/cpu-2proc.yaml):
the main process alone writes the run folder, no buffer row is lost or duplicated, and the run folder
is the one a single process writes wherever training (and so float rounding) does not enter."""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from test_server import free_port

from advfc import distributed
from advfc.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
LAUNCH = ROOT / "configs" / "accelerate" / "cpu-2proc.yaml"
# Two processes share every step's batch and each needs whole GRPO groups (2), so batches of 4,
# which the one-process reference takes in one piece.
BATCHES = ["--q-batch-size", "4", "--f-batch-size", "4", "--no-progress"]


def launch(*args: str) -> subprocess.CompletedProcess:
    port = free_port()  # a free rendezvous port: another launch may hold the default one
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch", "--config_file", str(LAUNCH),
               "--main_process_port", str(port), "-m", "advfc.cli", *map(str, args)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def files(run: Path) -> list[str]:
    """Every file of a run folder but TensorBoard's, whose names hold the time, host and pid."""
    return sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file() and "tfevents" not in p.name)


def tensorboard_writers(run: Path) -> Counter:
    return Counter(p.relative_to(run).parts[:2] for p in run.rglob("events.out.tfevents*"))


def stream(run: Path) -> list[dict]:
    """The event stream without times, and without the launch event (it names the process count)."""
    keys = ("event", "round", "stage", "status", "phase", "step", "seeds_done", "message")
    return [{k: e[k] for k in keys if k in e} for e in rows(run / "events.jsonl") if e["event"] != "launch"]


def answers(folder: Path) -> dict:
    """(file, id) -> the model's raw answer, over every result file of an evaluation folder."""
    return {(p.name, r["id"]): r["result"] for p in sorted(folder.rglob("*_result.json")) for r in rows(p)}


def test_a_batch_splits_evenly_over_the_processes_or_is_refused(monkeypatch):
    monkeypatch.setattr(distributed, "processes", lambda: 2)
    assert distributed.per_process(4, "q_batch_size") == 2
    with pytest.raises(InputError, match=r"q_batch_size \(3\) must be a multiple of the 2 processes"):
        distributed.per_process(3, "q_batch_size")


@pytest.mark.slow
def test_two_processes_write_the_run_of_one(tmp_path, cli):
    one, two = tmp_path / "one", tmp_path / "two"
    code, _, err = cli("train", "--config", SMOKE, "--output-dir", one, *BATCHES)
    assert code == 0, err
    done = launch("train", "--config", SMOKE, "--output-dir", two, *BATCHES)
    assert done.returncode == 0, done.stderr[-3000:]

    assert [e["processes"] for e in rows(two / "events.jsonl") if e["event"] == "launch"] == [2]
    assert [e["processes"] for e in rows(one / "events.jsonl") if e["event"] == "launch"] == [1]
    # One writer: the same files, one TensorBoard writer per folder, every event once and in order.
    assert files(two) == files(one)
    assert tensorboard_writers(two) == tensorboard_writers(one) == Counter(
        {("tb", "game"): 1, **{("phases", p): 1 for p in ("warm_start_fc", "warm_start_query", "round_1_q", "round_1_f")}})
    assert stream(two) == stream(one)
    assert done.stderr.count("stage 0 · warm_start") == 1  # and one console

    # The buffer: each round seed's M rewrites, once; the same rows as one process writes.
    state = json.loads((two / "checkpoint" / "state.json").read_text())
    buffer = rows(two / "buffer.jsonl")
    assert len(buffer) == state["buffer_rows"] == 2 * 2 and len({r["id"] for r in buffer}) == len(buffer)
    assert Counter(r["seed_id"] for r in buffer) == dict.fromkeys(state["round_seeds"], 2)
    assert [r["id"] for r in buffer] == [r["id"] for r in rows(one / "buffer.jsonl")]
    reference = json.loads((one / "checkpoint" / "state.json").read_text())
    same = ("round", "stage", "done", "buffer_rows", "metrics_rows")
    assert {k: state[k] for k in same} == {k: reference[k] for k in same} == {
        "round": 2, "stage": "select_seeds", "done": True, "buffer_rows": 4, "metrics_rows": 1}
    assert state["round_log"].keys() == reference["round_log"].keys()
    metrics = rows(two / "metrics.jsonl")
    assert len(metrics) == 1 and metrics[0].keys() == rows(one / "metrics.jsonl")[0].keys()

    # Before any training both runs sample the same model with the same seeds: the same answers.
    assert answers(two / "eval" / "base") == answers(one / "eval" / "base") != {}

    # Every process loads the checkpoint the main one wrote; the finished run stays as it was.
    before = {name: (two / name).read_bytes() for name in ("buffer.jsonl", "metrics.jsonl", "checkpoint/state.json")}
    done = launch("train", "--resume", two, "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    assert [e["event"] for e in rows(two / "events.jsonl")].count("resumed") == 1
    assert {name: (two / name).read_bytes() for name in before} == before


@pytest.mark.slow
def test_a_batch_that_splits_groups_over_the_processes_is_refused_before_training(tmp_path):
    run = tmp_path / "run"
    done = launch("train", "--config", SMOKE, "--output-dir", run, "--no-progress")  # q_batch_size 2, groups of 2
    assert done.returncode != 0
    assert "q_batch_size (2) over 2 processes leaves each process 1 completions of a generation" in done.stderr
    # The other process may be refused first and the launcher stop the main one before it opened
    # its log: then no stage ran either.
    log = run / "events.jsonl"
    assert not (run / "checkpoint").exists() and not any(e["event"] == "stage" for e in (rows(log) if log.exists() else []))


@pytest.mark.slow
def test_an_experiment_under_two_processes_writes_each_summary_once_and_b0_as_one_process_does(tmp_path):
    from test_experiment import digests, experiment_args

    from advfc.data import load_bfcl_ids
    from advfc.experiment import ExperimentConfig, base_summary, claim_experiment, freeze_sample
    from advfc.exports import write_bfcl_files

    robust = tmp_path / "robust"
    write_bfcl_files(load_bfcl_ids(["simple_python_5", "irrelevance_7"]), robust)
    out = tmp_path / "exp"
    args = [*experiment_args(out, robust, "grpo_clean"), *BATCHES]
    done = launch(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert set(digests(out)) == {"base.json", "sft@0.json", "grpo_clean@0.json"}
    for arm in ("sft", "grpo_clean"):
        assert [e["processes"] for e in rows(out / "seed_0" / arm / "events.jsonl") if e["event"] == "launch"] == [2]
    assert done.stdout.count("arm summaries in") == 1  # one process reports
    # B0 (greedy, before any training) is what one process makes of the same sample and sets.
    config = ExperimentConfig.load(SMOKE, eval_per_category=2, eval_sample_categories=["simple_python", "irrelevance"],
                                   robustness_sets=[str(robust)], output_dir=tmp_path / "one", progress=False)
    claim_experiment(config, config.output_dir)
    one = base_summary(config, config.output_dir, freeze_sample(config, config.output_dir / "eval_sample"))
    two = json.loads((out / "summaries" / "base.json").read_text())
    assert {k: two[k] for k in ("correct", "called", "sample_digest")} == {k: one[k] for k in ("correct", "called", "sample_digest")}
    assert two["robustness"]["robust"]["correct"] == one["robustness"]["robust"]["correct"]
    # Run again: every arm is done, nothing is trained or rewritten.
    before = digests(out)
    done = launch(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert digests(out) == before
