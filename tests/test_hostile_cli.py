"""Hostile and careless input, command by command: each case ends in exit code 2 with one line on
stderr that names the problem, no traceback, and every file that existed before byte-for-byte as
it was (no command touches a path before it has checked it). No case loads a model."""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_checkpoint import FakePlayers

from advfc import checkpoint
from advfc.data import load_bfcl_ids
from advfc.runlog import CONFIG_HEADER
from advfc.train_config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SIMPLE = load_bfcl_ids(["simple_python_0"])[0]
CALL = "calculate_triangle_area(base=10, height=5)"


@dataclass
class Case:
    name: str
    files: dict  # relative path -> bytes, str, or a callable(folder) that builds it
    argv: list[str]  # "{d}" is the case's folder
    expect: str  # in the error line
    new_files_ok: bool = False  # a refused fresh `train` keeps the run folder it claimed


def jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def score(results="{d}/r.jsonl", out="{d}/v.jsonl"):
    return ["score", "--category", "simple_python", "--results", results, "--out", out]


def train(*flags):
    return ["train", "--model", "tiny", "--report-to", "none", "--output-dir", "{d}/run", *flags]


def attack_folder(folder: Path, rewrites: str) -> None:
    """An attack folder `advfc attack --attacker tiny` would resume, with the given rewrites file."""
    from advfc.attack import AttackConfig

    (folder / "out").mkdir()
    (folder / "out" / "attack.json").write_text(json.dumps(AttackConfig(attacker="tiny").settings()))
    (folder / "out" / "rewrites.jsonl").write_text(rewrites)


def run_folder(folder: Path, damage=None) -> None:
    """A run folder as `advfc train` leaves it after its first checkpoint, optionally damaged."""
    (folder / "run").mkdir()
    config = TrainConfig.load(ROOT / "configs" / "smoke.yaml", report_to="none")
    (folder / "run" / "config.yaml").write_text(CONFIG_HEADER + config.to_yaml())
    (folder / "run" / "events.jsonl").write_text(jsonl({"event": "stage", "stage": "warm_start", "status": "start"}))
    state = {"round": 1, "stage": "select_seeds", "round_seeds": [], "buffer_rows": 0, "metrics_rows": 0,
             "curriculum": {}, "round_log": {}, "done": False}
    checkpoint.save(folder / "run", FakePlayers(), state)
    if damage:
        damage(folder / "run" / "checkpoint")


def crafted_pickle(ck: Path) -> None:
    import pickle

    class Payload:
        def __reduce__(self):
            return __import__("os").mkdir, (str(ck.parent.parent / "payload-ran"),)

    (ck / "trainer_state.pt").write_bytes(pickle.dumps(Payload()))


def truncate(name):
    def damage(ck: Path):
        raw = (ck / name).read_bytes()
        (ck / name).write_bytes(raw[: len(raw) // 2])

    return damage


def with_scores(scores_text: str, stage="base"):
    def build(folder: Path):
        run_folder(folder)
        (folder / "run" / "eval" / stage).mkdir(parents=True)
        (folder / "run" / "eval" / stage / "scores.json").write_text(scores_text)

    return build


def openai_row(content) -> dict:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    return {"messages": [{"role": "user", "content": content},
                         {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}],
            "tools": [tool]}


def symlink_to_results(folder: Path):
    (folder / "r.jsonl").write_text(jsonl({"id": "simple_python_0", "result": f"[{CALL}]"}))
    (folder / "v.jsonl").symlink_to(folder / "r.jsonl")


GOOD_RESULT = jsonl({"id": "simple_python_0", "result": f"[{CALL}]"})
BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nmodel: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
XLAM_LIST_PARAMS = {"query": "q", "tools": json.dumps([{"name": "f", "parameters": ["a"]}]), "answers": "[]"}

CASES = [
    # --- score: the results file
    Case("results not UTF-8", {"r.jsonl": b'{"id": "simple_python_0", "result": "\xff\xfe"}\n'}, score(), "r.jsonl:1: not UTF-8"),
    Case("results is a folder", {"r.jsonl/x": ""}, score(), "is a folder"),
    Case("results missing", {}, score(), "r.jsonl: file not found"),
    Case("results nested 100000 deep", {"r.jsonl": nested(100_000) + "\n"}, score(), "r.jsonl:1: JSON nested deeper"),
    Case("results: a 2 MB line of 300k calls", {"r.jsonl": jsonl({"id": "simple_python_0", "result": "[" + ", ".join(["f(a=1)"] * 300_000) + "]"})},
         score(), "r.jsonl:1: line longer than the 256 KiB limit"),
    Case("results empty", {"r.jsonl": ""}, score(), "r.jsonl: no results"),
    Case("results integer of 5000 digits", {"r.jsonl": '{"id": "simple_python_0", "result": ' + "1" * 5000 + "}\n"}, score(), "r.jsonl:1: invalid JSON"),
    Case("results record is a list", {"r.jsonl": "[1, 2]\n"}, score(), "r.jsonl:1: expected an object"),
    # --- score: the output path
    Case("--out is --results", {"r.jsonl": GOOD_RESULT}, score(out="{d}/r.jsonl"), "is also an input"),
    Case("--out links to --results", symlink_to_results, score(), "is also an input"),
    Case("--out is someone's file", {"r.jsonl": GOOD_RESULT, "v.jsonl": "my notes\n"}, score(), "exists and is not a verdicts file"),
    Case("--out is a folder", {"r.jsonl": GOOD_RESULT, "v.jsonl/keep": "x"}, score(), "exists and is not a verdicts file"),
    # --- train: the config file
    Case("config alias bomb", {"c.yaml": BOMB}, ["train", "-c", "{d}/c.yaml"], "c.yaml:1: invalid YAML: anchors and aliases"),
    Case("config duplicate key", {"c.yaml": "rounds: 1\nseed: 2\nrounds: 2\n"}, ["train", "-c", "{d}/c.yaml"], "c.yaml:3: invalid YAML: duplicate key 'rounds' (first on line 1)"),
    Case("config rounds: true", {"c.yaml": "rounds: true\n"}, ["train", "-c", "{d}/c.yaml"], "field 'rounds' (line 1): Input should be a valid integer"),
    Case("config rounds: 3.0", {"c.yaml": "rounds: 3.0\n"}, ["train", "-c", "{d}/c.yaml"], "field 'rounds' (line 1): Input should be a valid integer"),
    Case("config .inf", {"c.yaml": "recency_weight: .inf\n"}, ["train", "-c", "{d}/c.yaml"], "field 'recency_weight' (line 1): Input should be a finite number"),
    Case("config unknown f_grpo key", {"c.yaml": "rounds: 1\nf_grpo:\n  epsilon: 0.1\n  betta: 0.1\n"}, ["train", "-c", "{d}/c.yaml"],
         "field 'f_grpo' (line 2): unknown GRPOConfig key 'betta'"),
    Case("config q_lr in q_grpo", {"c.yaml": "q_lr: 1.0e-5\nq_grpo: {learning_rate: 1.0e-5}\n"}, ["train", "-c", "{d}/c.yaml"],
         "field 'q_grpo' (line 2): learning_rate is given by field q_lr, not by a section"),
    Case("config 1e50 as an integer", {"c.yaml": "seed: 100000000000000000000000000000000000000000000000000\n"}, ["train", "-c", "{d}/c.yaml"], "out of range"),
    Case("config 2 MB", {"c.yaml": "# " + "x" * (2 << 20) + "\n"}, ["train", "-c", "{d}/c.yaml"], "c.yaml: is larger than the 1 MiB limit"),
    Case("config not UTF-8", {"c.yaml": b"model: \xff\n"}, ["train", "-c", "{d}/c.yaml"], "c.yaml: not UTF-8"),
    Case("config is a folder", {"c.yaml/x": ""}, ["train", "-c", "{d}/c.yaml"], "c.yaml: is a folder"),
    Case("config nested 100000 deep", {"c.yaml": "model: " + nested(100_000) + "\n"}, ["train", "-c", "{d}/c.yaml"], "nested too deeply"),
    Case("config eval_answers without eval_questions", {"a.jsonl": ""}, train("--eval-answers", "{d}/a.jsonl"),
         "eval_answers is the possible-answer file of eval_questions; give both"),
    # --- train: the run folder
    Case("--resume with another flag", run_folder, ["train", "--resume", "{d}/run", "--rounds", "3"], "--rounds would be ignored"),
    Case("--resume a folder that is no run", {"run/config.yaml": "rounds: 1\n"}, ["train", "--resume", "{d}/run"], "not a run folder"),
    Case("--resume a crafted pickle", lambda d: run_folder(d, crafted_pickle), ["train", "--resume", "{d}/run"], "pickled trainer_state.pt, never loaded"),
    Case("--resume a torn state.json", lambda d: run_folder(d, truncate("state.json")), ["train", "--resume", "{d}/run"], "state.json: damaged"),
    Case("--resume truncated tensors", lambda d: run_folder(d, truncate("tensors.safetensors")), ["train", "--resume", "{d}/run"], "tensors.safetensors: damaged"),
    Case("--output-dir someone's folder", {"run/notes.txt": "keep me"}, train(), "is not empty"),
    Case("--output-dir is a file", {"run": "a file"}, train(), "exists and is not a folder"),
    # --- train: the data, refused before the model loads
    Case("openai image part", {"c.jsonl": jsonl(openai_row([{"type": "image_url", "image_url": {"url": "x"}}]))},
         train("--train-data", "openai:{d}/c.jsonl"), "c.jsonl:1: content part of type 'image_url' is not supported", new_files_ok=True),
    Case("xLAM parameters as a list", {"x.jsonl": jsonl(XLAM_LIST_PARAMS)}, train("--train-data", "{d}/x.jsonl"),
         "x.jsonl:1: tools[0] 'parameters' of 'f' must map parameter names", new_files_ok=True),
    Case("empty data file", {"x.jsonl": ""}, train("--train-data", "{d}/x.jsonl"), "x.jsonl: no xLAM records", new_files_ok=True),
    Case("data not UTF-8", {"c.jsonl": b"\xff\n"}, train("--train-data", "openai:{d}/c.jsonl"), "c.jsonl:1: not UTF-8", new_files_ok=True),
    # --- eval
    Case("eval --out someone's folder", {"out/scores.json": "{}"}, ["eval", "--model", "tiny", "--out", "{d}/out"], "exists and is not an advfc results folder"),
    Case("eval --answers without --questions", {"a.jsonl": ""}, ["eval", "--model", "tiny", "--answers", "{d}/a.jsonl", "--out", "{d}/o"],
         "--answers is the possible-answer file of --questions; give both"),
    Case("eval --split malformed", {"s.json": '{"train": [], "eval": {}}'}, ["eval", "--model", "tiny", "--split", "{d}/s.json", "--out", "{d}/o"], "s.json: a split file needs"),
    # --- report
    Case("report any folder", {"docs/report.md": "my report"}, ["report", "{d}/docs"], "not a run folder"),
    Case("report malformed scores.json", with_scores('{"categories": {"simple_python": {"accuracy": "high", "total": 1}}}'),
         ["report", "{d}/run"], "scores.json: categories.simple_python: 'accuracy' must be a number"),
    Case("report torn scores.json", with_scores('{"categories": {'), ["report", "{d}/run"], "scores.json: invalid JSON"),
    Case("report stray stage folder", with_scores("{}", stage="mine"), ["report", "{d}/run"], "eval/mine: not an evaluation stage"),
    # --- data
    Case("data split --out someone's file", {"notes.txt": "keep"}, ["data", "split", "--out", "{d}/notes.txt"], "exists and is not a split file"),
    Case("data export hf over someone's folder", {"ds/mine.txt": "keep"}, ["data", "export", "--format", "hf", "--out", "{d}/ds"], "exists and is not a `datasets` folder"),
    Case("data export --run onto its buffer", lambda d: (run_folder(d), (d / "run" / "buffer.jsonl").write_text("")),
         ["data", "export", "--run", "{d}/run", "--out", "{d}/run/buffer.jsonl"], "is also an input"),
    Case("data export --run bad buffer row", lambda d: (run_folder(d), (d / "run" / "buffer.jsonl").write_text(jsonl({"id": "x"}))),
         ["data", "export", "--run", "{d}/run", "--out", "{d}/a.jsonl"], "buffer.jsonl:1: not a buffer row: missing 'round'"),
    # --- attack: its --out is an attack folder it resumes, never someone's file or folder
    Case("attack --out someone's file", {"notes.txt": "line one\nline two, no newline"}, ["attack", "--attacker", "tiny", "--out", "{d}/notes.txt"], "notes.txt: exists and is not an advfc attack folder"),
    Case("attack --out someone's folder", {"out/x": ""}, ["attack", "--attacker", "tiny", "--out", "{d}/out"], "exists and is not an advfc attack folder"),
    Case("attack --out an attack of other settings", {"out/attack.json": json.dumps({"attacker": "other"})}, ["attack", "--attacker", "tiny", "--out", "{d}/out"], "holds an attack with other settings"),
    Case("attack folder whose rewrites are not a log", lambda d: attack_folder(d, "line one\nline two, no newline"), ["attack", "--attacker", "tiny", "--out", "{d}/out"], "rewrites.jsonl:1: invalid JSON (Expecting value, column 1); not an advfc log, left untouched"),
    Case("attack folder whose rewrites end in a non-record", lambda d: attack_folder(d, '{"a": 1}'), ["attack", "--attacker", "tiny", "--out", "{d}/out"], "the last line is neither"),
]


def build(folder: Path, files) -> None:
    if callable(files):
        files(folder)
        return
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_one_line_exit_2_and_changes_no_file(case, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("ADVFC_CACHE", str(tmp_path / "cache"))  # a last-resort log would land here
    folder = tmp_path / "case"
    folder.mkdir()
    build(folder, case.files)
    before = snapshot(folder)
    code, out, err = cli(*[a.replace("{d}", str(folder)) for a in case.argv])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert case.expect in lines[0] and lines[0].startswith("error: ") and len(lines[0]) < 600, lines[0]
    assert "Traceback" not in out + err and not (tmp_path / "cache").exists()
    after = snapshot(folder)
    assert {p: after.get(p) for p in before} == before, "an input file changed"
    assert case.new_files_ok or set(after) == set(before), sorted(set(after) - set(before))
    assert not (folder / "payload-ran").exists()


def test_a_real_process_prints_one_line_too(tmp_path):
    (tmp_path / "c.yaml").write_text(BOMB)
    proc = subprocess.run([sys.executable, "-m", "advfc.cli", "train", "-c", str(tmp_path / "c.yaml")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "aliases" in proc.stderr, proc.stderr


def test_an_unexpected_error_is_one_line_exit_1_naming_its_log(tmp_path, cli, monkeypatch):
    import advfc.data

    def broken(*args, **kwargs):
        raise RuntimeError("something\nunforeseen")

    monkeypatch.setenv("ADVFC_CACHE", str(tmp_path))
    monkeypatch.setattr(advfc.data, "load_bfcl", broken)
    code, _, err = cli("data", "list")
    (line,) = err.strip().splitlines()
    assert code == 1 and line.startswith("error: RuntimeError: something unforeseen (traceback in ")
    (log,) = (tmp_path / "logs").iterdir()
    assert str(log) in line and "Traceback" in log.read_text() and "RuntimeError" in log.read_text()


def test_a_second_train_on_a_locked_run_folder_is_refused(tmp_path, cli):
    from advfc.runlog import lock

    run_folder(tmp_path)
    with lock(tmp_path / "run"):  # what a running `advfc train` holds
        code, _, err = cli("train", "--resume", tmp_path / "run", "--no-progress")
    assert code == 2 and "another advfc process is running in this run folder" in err
