"""The game end to end on the tiny model (configs/smoke.yaml), and kill -9 / resume at every stage."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
# The kill test trims evaluation to keep it short; stages and the buffer are the same as smoke.
FAST = ["--eval-limit", "1", "--robustness-per-category", "0", "--no-eval-base", "--report-to", "none"]

pytestmark = pytest.mark.slow


def advfc(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "advfc.cli", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kwargs)


def finish(*args) -> None:
    proc = advfc(*args)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]


def events(run: Path) -> list[dict]:
    path = run / "events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def kill_when(run: Path, predicate, *args) -> None:
    """Start a run and SIGKILL it as soon as an event satisfies `predicate`."""
    proc = advfc(*args)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if any(predicate(e) for e in events(run)):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before the kill point"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def buffer_rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "buffer.jsonl").read_text().splitlines()]


def test_smoke_run_produces_every_artifact(smoke, tmp_path, cli):
    run = smoke
    report = (run / "report.md").read_text()
    assert "Held-out BFCL accuracy by stage" in report and "| base | warm_start | round_1 |" in report
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["round"] for m in metrics] == [1]
    m = metrics[0]
    for key in ("harvest/validity_rate", "harvest/fc_accuracy_clean", "harvest/attack_success", "q_reward_mean",
                "f_reward_mean", "level", "seed_buckets", "eval"):
        assert key in m, key
    rows = buffer_rows(run)
    assert len(rows) == 2 * 2 and len({r["id"] for r in rows}) == 4
    assert {"round", "tactic", "level", "p_hat", "status", "reasons", "error_types"} <= set(rows[0])
    for adapter in ("fc", "query"):
        assert (run / "final" / adapter / "adapter_config.json").exists()
    assert list((run / "tb").rglob("events.out.tfevents*")) and list((run / "phases").rglob("events.out.tfevents*"))
    assert (run / "rounds.png").exists()
    steps = {(e["phase"], e["step"]) for e in events(run) if e["event"] == "train" and "loss" in e}
    assert steps == {(p, s) for p in ("warm_start_fc", "warm_start_query", "q_phase", "f_phase") for s in (1, 2)}
    # The final FC adapter is a PEFT folder the evaluator loads like any model.
    code, out, err = cli("eval", "--model", run / "final" / "fc", "--categories", "simple_python", "--limit", "1",
                         "--out", tmp_path / "eval", "--max-new-tokens", "8", "--no-progress")
    assert code == 0, err
    code, _, _ = cli("data", "export", "--run", run, "--out", tmp_path / "adv.jsonl")
    assert code == 0 and len((tmp_path / "adv.jsonl").read_text().splitlines()) == 4
    code, out, _ = cli("report", run, run)
    assert code == 0 and "round_1" in out


def test_run_folder_is_not_overwritten(smoke, cli):
    code, _, err = cli("train", "--config", SMOKE, "--output-dir", smoke)
    assert code == 2 and "already holds a run" in err


def kill_points(events: list[dict]) -> list[dict]:
    """Places in a run's event stream where work remains after the event: the first and the last
    unfinished step of every trainer, the first harvested seed, and the start of the stages that
    follow a checkpoint. Each is the subset of an event's fields that picks it out of another run
    of the same config."""
    points = []
    for e in events:
        if e["event"] == "train" and "loss" in e and e["step"] < e["of"]:
            steps = sorted({1, e["of"] - 1})
            point = {"event": "train", "phase": e["phase"], "step": e["step"]} if e["step"] in steps else None
        elif e["event"] == "harvest" and e["seeds_done"] < e["of"]:
            point = {"event": "harvest", "round": e["round"], "seeds_done": e["seeds_done"]}
        elif e["event"] == "stage" and e["status"] == "start" and e["stage"] in ("select_seeds", "f_phase", "evaluate"):
            point = {"event": "stage", "stage": e["stage"], "status": "start"}
        else:
            point = None
        if point is not None and point not in points:
            points.append(point)
    return points


def stage_of(point: dict) -> str:
    """The stage a run killed at `point` resumes at."""
    if point["event"] == "train":
        return "warm_start" if point["phase"].startswith("warm_start") else point["phase"]
    return point.get("stage", point["event"])


def comparable(run: Path, name: str) -> list[dict]:
    """A run's rows without what measures time."""
    rows = [json.loads(line) for line in (run / name).read_text().splitlines()]
    return [{k: v for k, v in row.items() if not k.startswith("seconds/")} for row in rows]


def test_kill_at_points_of_the_event_stream_and_resume_ends_identical(tmp_path):
    """A reference run and a run SIGKILLed at every kill point of the reference's event stream (each
    time resumed, every other time with gradient checkpointing) end with the same buffer, metrics
    and final adapters. The kills wait for events,
    so no timing is assumed; --no-progress, because harvest events must count seeds without bars."""
    flags = ["--config", SMOKE, *FAST, "--q-steps", "4", "--f-steps", "4", "--no-progress"]
    reference, run = tmp_path / "reference", tmp_path / "killed"
    finish("train", "--output-dir", reference, *flags)
    points = kill_points(events(reference))
    assert [e["seeds_done"] for e in events(reference) if e["event"] == "harvest"] == [1, 2]  # counted without a bar
    assert [(p.get("phase", p.get("stage", p["event"])), p.get("step")) for p in points] == [
        ("warm_start_fc", 1), ("warm_start_query", 1), ("select_seeds", None), ("q_phase", 1), ("q_phase", 3),
        ("harvest", None), ("f_phase", None), ("f_phase", 1), ("f_phase", 3), ("evaluate", None)]
    for i, point in enumerate(points):
        # Every other resume recomputes activations (gradient checkpointing): a memory setting that
        # may change on resume because it changes no number, which the equal end states below prove.
        args = ("--output-dir", run, *flags) if i == 0 else ("--resume", run, *(["--gradient-checkpointing"] if i % 2 else []))
        kill_when(run, lambda e, p=point: p.items() <= e.items(), "train", *args)
        if point["event"] == "harvest":
            assert len(buffer_rows(run)) == 2, "the kill landed mid-harvest: one of two seeds written"
    finish("train", "--resume", run)

    resumed = [e["stage"] for e in events(run) if e["event"] == "resumed"]
    assert len(points) >= 10 and resumed == [stage_of(p) for p in points]
    assert comparable(run, "buffer.jsonl") == comparable(reference, "buffer.jsonl")
    assert comparable(run, "metrics.jsonl") == comparable(reference, "metrics.jsonl")
    for adapter in ("fc", "query"):
        weights = Path("final", adapter, "adapter_model.safetensors")
        assert (run / weights).read_bytes() == (reference / weights).read_bytes()


@pytest.mark.parametrize("arm, trained, harvested, level", [
    ("sft", set(), 0, None),  # B1: the warm start alone
    ("grpo_clean", {"f_phase"}, 0, None),  # B2: + GRPO on clean seeds
    ("grpo_random_aug", {"f_phase"}, 4, 3),  # B3: + rewrites of the untrained Q, every tactic level
    ("frozen_q", {"f_phase"}, 4, 1),  # the game's schedule without RL on Q
    ("no_curriculum", {"q_phase", "f_phase"}, 4, 3),  # the game from the top level
])
def test_arms_run_the_same_loop_with_steps_switched_off(tmp_path, arm, trained, harvested, level):
    run = tmp_path / arm
    finish("train", "--config", SMOKE, "--output-dir", run, *FAST, "--arm", arm)
    phases = {e["phase"] for e in events(run) if e["event"] == "train"} - {"warm_start_fc", "warm_start_query"}
    assert phases == trained
    rows = buffer_rows(run) if (run / "buffer.jsonl").exists() else []
    assert len(rows) == harvested and all(r["round"] == 1 for r in rows)
    assert {r["level"] for r in rows} == ({level} if rows else set())
    assert (run / "final" / "fc" / "adapter_config.json").exists() and (run / "report.md").exists()


def chromium() -> str:
    """Debian's headless Chromium; .ci/run installs it, so under CI it is never skipped."""
    import shutil

    found = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing on CI: .ci/run should have installed Debian's chromium package")
        pytest.skip("headless Chromium not found: `sudo apt-get install chromium` to run the report's screenshot test")
    return found


def test_report_html_is_self_contained_and_every_plot_decodes(smoke, tmp_path):
    import re

    import matplotlib.image

    html = (smoke / "report.html").read_text()
    sources = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(sources) >= 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "Held-out BFCL accuracy by stage" in html and "Rewrites the guard rejected" in html
    # Every image must decode in a real browser: naturalWidth/Height read after load.
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", "<script>addEventListener('load', () => { const p = document.createElement('pre');"
                                  " p.id = 'probe'; p.textContent = JSON.stringify([...document.images].map(i => [i.naturalWidth,"
                                  " i.naturalHeight])); document.body.appendChild(p); });</script></body>"))
    browser = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run([*browser, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=180).stdout
    sizes = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom).group(1))
    assert len(sizes) == len(sources) and all(w > 0 and h > 0 for w, h in sizes), sizes
    shot = tmp_path / "report.png"
    subprocess.run([*browser, "--window-size=1200,2000", f"--screenshot={shot}", (smoke / "report.html").as_uri()],
                   capture_output=True, timeout=180, check=True)
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] == 2000 and pixels.std() > 0.05  # a rendered page, not a blank one


def test_a_run_records_the_dtype_auto_resolved_to_and_a_resume_keeps_it(smoke, tmp_path):
    from advfc.errors import InputError
    from advfc.game import resume_dtype

    # The tiny model stays float32 under `dtype: auto`; the checkpoint says what it resolved to.
    assert json.loads((smoke / "checkpoint" / "state.json").read_text())["dtype"] == "float32"

    def dtype_of(wanted: str, recorded: str) -> str:
        return resume_dtype(wanted, recorded, tmp_path)

    # auto follows the checkpoint, whatever this CPU would pick; older checkpoints (no dtype) keep auto.
    assert [dtype_of("auto", "float32"), dtype_of("auto", "bfloat16"), dtype_of("auto", "")] == ["float32", "bfloat16", "auto"]
    assert dtype_of("bfloat16", "bfloat16") == "bfloat16" and dtype_of("float32", "") == "float32"
    with pytest.raises(InputError, match="was trained in float32; dtype bfloat16 would mix"):
        dtype_of("bfloat16", "float32")
