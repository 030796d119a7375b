"""`advfc experiment`: the paired statistics, the frozen sample, the config, the table composed from
summaries, and (slow) a two-arm experiment on the tiny model killed midway and resumed."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from advfc.data import load_bfcl_files, load_bfcl_ids
from advfc.errors import InputError
from advfc.experiment import B1, ExperimentConfig, compose, config_hash, stratified_sample
from advfc.exports import write_bfcl_files
from advfc.split import load_split
from advfc.stats import mcnemar_exact, paired_difference
from advfc.train_config import ROUND_FIELDS, TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def test_paired_difference_counts_discordant_pairs_and_mcnemar_is_exact():
    d = paired_difference(np.array([[1, 1, 1, 0]]), np.array([[0, 0, 1, 0]]))
    assert d.diff == 0.5 and (d.a_only, d.b_only) == (2, 0) and d.p_mcnemar == 0.5
    assert mcnemar_exact(10, 0) == 2 / 1024 and mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 5) == mcnemar_exact(5, 3) == pytest.approx(2 * sum(__import__("math").comb(8, i) for i in range(4)) / 256)
    same = paired_difference(np.ones((2, 5)), np.ones((2, 5)))
    assert same.within_noise and same.diff == 0 and same.p_mcnemar == 1.0


def test_bootstrap_interval_excludes_zero_only_for_a_real_difference():
    rng = np.random.default_rng(0)
    b = (rng.random((2, 300)) < 0.5).astype(float)
    better = np.maximum(b, (rng.random((2, 300)) < 0.4))  # about 20 points better, paired
    d = paired_difference(better, b)
    assert d.low > 0.1 and not d.within_noise and d.low < d.diff < d.high
    noise = paired_difference((rng.random((2, 300)) < 0.5).astype(float), b)
    assert noise.within_noise


def test_seeds_are_paired_row_by_row():
    a = np.array([[1, 0], [0, 1]])
    b = np.array([[0, 1], [1, 0]])
    # Seed s of one arm against seed s of the other: four discordant pairs, and the interval is wide.
    d = paired_difference(a, b)
    assert (d.diff, d.a_only, d.b_only) == (0, 2, 2)
    same = paired_difference(a, b[::-1])  # the same verdicts once the seeds line up
    assert (same.a_only, same.b_only, same.low, same.high) == (0, 0, 0, 0)


def test_the_sample_is_held_out_stratified_and_not_the_first_items():
    sample = stratified_sample(["simple_python", "irrelevance", "live_simple"], 5)
    assert sample == stratified_sample(["simple_python", "irrelevance", "live_simple"], 5)
    held = {i for ids in load_split().eval.values() for i in ids}
    assert len(sample) == 15 and all(e.id in held for e in sample)
    assert [e.category for e in sample] == ["simple_python"] * 5 + ["irrelevance"] * 5 + ["live_simple"] * 5
    assert [e.id for e in sample[:5]] != [f"simple_python_{i}" for i in range(5)]


@pytest.mark.parametrize("overrides, message", [
    ({"arms": ["nope"]}, "unknown arm 'nope'"),
    ({"seed": 3}, "set per arm by the experiment"),
    ({"arms": ["sft"]}, "sft runs in every experiment"),
    ({"variants": {"fast": {"arm": "advfc", "f_lr": -1}}}, "variant 'fast'"),
    ({"variants": {"fast": {"arm": "advfc", "seed": 1}}}, "variant 'fast'"),
    ({"variants": {"fast": {"arm": "nope"}}}, "variant 'fast'"),
])
def test_bad_experiment_configs_are_refused_with_the_reason(overrides, message):
    with pytest.raises(InputError, match=message):
        ExperimentConfig.load(None, **overrides)


def test_a_variant_overrides_its_arm_and_every_arm_gets_the_shared_settings(tmp_path):
    config = ExperimentConfig.load(None, f_steps=7, variants={"hot": {"arm": "advfc", "f_lr": 1e-3}})
    arm = config.arm_config("hot", 2, tmp_path / "hot", init_from=tmp_path / "b1", sample=tmp_path / "s")
    assert (arm.arm, arm.seed, arm.f_lr, arm.f_steps, arm.init_from) == ("advfc", 2, 1e-3, 7, tmp_path / "b1")
    assert arm.eval_questions == tmp_path / "s" / "questions.jsonl" and not arm.eval_base
    assert arm.eval_limit is None  # every sample item is scored, whatever eval_limit the shared config has
    assert config.arm_config("sft", 2, tmp_path / "b1", init_from=None, sample=tmp_path / "s").rounds == 0


def summary(arm, seed, correct, label=None, robust=None):
    return {"arm": arm, "label": label or arm, "seed": seed, "config_hash": "h", "commit": "c", "sample_digest": "d",
            "accuracy": correct.count("1") / len(correct), "correct": correct, "called": correct,
            "categories": {"simple_python": {"total": len(correct), "correct": correct.count("1"),
                                             "accuracy": correct.count("1") / len(correct), "parseable_calls": 1.0}},
            "robustness": robust or {}, "rounds": []}


def test_the_table_is_composed_from_summaries_alone(tmp_path):
    rows = [summary("base", None, "1100", "B0"), summary("grpo_clean", 0, "1000", "B2"), summary("grpo_clean", 1, "1100", "B2"),
            summary("advfc", 0, "1110"), summary("advfc", 1, "1111")]
    (tmp_path / "summaries").mkdir()
    for s in rows:
        (tmp_path / "summaries" / f"{s['arm']}@{s['seed']}.json").write_text(json.dumps(s))
    results = compose(tmp_path)
    by_arm = {r["arm"]: r for r in results["arms"]}
    assert [r["arm"] for r in results["arms"]] == ["base", "grpo_clean", "advfc"]
    vs = by_arm["advfc"]["vs"]["grpo_clean"]
    assert vs["diff"] == pytest.approx((2 + 2) / 8) and (vs["a_only"], vs["b_only"], vs["seeds"]) == (4, 0, 2)
    # B0 has one seed-free summary that pairs with both seeds of B2.
    assert by_arm["base"]["vs"]["grpo_clean"]["seeds"] == 2 and by_arm["base"]["vs"]["grpo_clean"]["diff"] == pytest.approx((1 + 0) / 8)
    assert by_arm["advfc"]["accuracy"] == pytest.approx(0.875) and by_arm["advfc"]["accuracy_by_seed"] == [0.75, 1.0]
    report = (tmp_path / "report.md").read_text()
    assert "| advfc | advfc | 0, 1 | 87.5 (75.0, 100.0) |" in report and "+50.0" in report
    assert json.loads((tmp_path / "results.json").read_text()) == results


def test_summaries_of_different_samples_are_never_paired(tmp_path):
    (tmp_path / "summaries").mkdir()
    for s in (summary("grpo_clean", 0, "10"), {**summary("advfc", 0, "11"), "sample_digest": "other"}):
        (tmp_path / "summaries" / f"{s['arm']}@0.json").write_text(json.dumps(s))
    assert {r["arm"]: r["vs"] for r in compose(tmp_path)["arms"]}["advfc"] == {"grpo_clean": None}


# ----------------------------------------------------------------------------- end to end (tiny model)


def experiment_args(out: Path, robust: Path, arms: str) -> list[str]:
    return ["experiment", "--config", str(ROOT / "configs" / "smoke.yaml"), "--output-dir", str(out), "--arms", arms,
            "--ablations", "", "--seeds", "0", "--eval-per-category", "2", "--eval-sample-categories",
            "simple_python,irrelevance", "--robustness-sets", str(robust), "--report-to", "none",
            "--robustness-per-category", "0", "--no-progress"]


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "summaries").glob("*.json"))}


@pytest.mark.slow
def test_two_arm_experiment_killed_midway_resumes_and_composes_its_table(tmp_path, cli):
    from test_game import kill_when

    robust = tmp_path / "robust"
    write_bfcl_files(load_bfcl_ids(["simple_python_5", "irrelevance_7"]), robust)
    out = tmp_path / "exp"
    args = experiment_args(out, robust, "grpo_clean,advfc")
    # Killed inside the game arm, after B0, B1 and B2 wrote their summaries.
    kill_when(out / "seed_0" / "advfc", lambda e: e.get("stage") == "f_phase" and e.get("status") == "start",
              *args[:1], *args[1:])
    before = digests(out)
    assert set(before) == {"base.json", "sft@0.json", "grpo_clean@0.json"}
    code, _, err = cli(*args)
    assert code == 0, err
    after = digests(out)
    assert {k: after[k] for k in before} == before and "advfc@0.json" in after  # finished arms untouched
    rows = [json.loads(line) for line in (out / "seed_0" / "advfc" / "buffer.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and len({r["id"] for r in rows}) == 4  # nothing lost or duplicated by the kill
    events = [json.loads(line) for line in (out / "seed_0" / "advfc" / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events].count("forked") == 1 and any(e["event"] == "resumed" for e in events)
    assert not any(e.get("phase", "").startswith("warm_start") for e in events)  # the arm forked from B1
    # Its time is its stages' over both invocations, the killed one's included.
    stages = [e["seconds"] for e in events if e["event"] == "stage" and e["status"] == "end"]
    assert json.loads((out / "summaries" / "advfc@0.json").read_text())["seconds"] == round(sum(stages), 1)
    results = json.loads((out / "results.json").read_text())
    advfc = next(r for r in results["arms"] if r["arm"] == "advfc")
    assert json.loads((out / "summaries" / "advfc@0.json").read_text())["dtype"] == "float32"  # the tiny model under auto
    assert advfc["vs"]["grpo_clean"]["items"] == 4 and advfc["robustness"]["robust"]["by_kind"].keys() == {"call", "irrelevance"}
    sample = load_bfcl_files(out / "eval_sample" / "questions.jsonl", out / "eval_sample" / "answers.jsonl")
    assert [e.category for e in sample] == ["simple_python"] * 2 + ["irrelevance"] * 2
    assert "Held-out BFCL accuracy by arm" in (out / "report.md").read_text()
    # A robustness set added later is scored on every finished arm's final F; nothing is retrained,
    # and the sets a summary holds stay as they are.
    later = tmp_path / "later"
    write_bfcl_files(load_bfcl_ids(["multiple_3"]), later)
    held = {p.name: json.loads(p.read_text()) for p in (out / "summaries").glob("*.json")}
    logs = {arm: (out / "seed_0" / arm / "events.jsonl").read_bytes() for arm in ("sft", "grpo_clean", "advfc")}
    wider = list(args)
    wider[wider.index("--robustness-sets") + 1] = f"{robust},{later}"
    code, _, err = cli(*wider)
    assert code == 0, err
    for path in (out / "summaries").glob("*.json"):
        summary = json.loads(path.read_text())
        assert summary["robustness"]["robust"] == held[path.name]["robustness"]["robust"], path.name
        assert len(summary["robustness"]["later"]["correct"]) == 1, path.name
        assert {k: v for k, v in summary.items() if k != "robustness"} == {k: v for k, v in held[path.name].items() if k != "robustness"}
    assert logs == {arm: (out / "seed_0" / arm / "events.jsonl").read_bytes() for arm in logs}  # no arm ran again
    assert "later" in json.loads((out / "results.json").read_text())["arms"][0]["robustness"]
    # Another experiment's settings in this folder are refused before anything is touched.
    snapshot = digests(out)
    code, _, err = cli(*args, "--f-lr", "0.001")
    assert code == 2 and "other settings (f_lr)" in err and digests(out) == snapshot
    done = subprocess.run([sys.executable, "-m", "advfc.cli", "report", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and digests(out) == snapshot
    # Another machine: the summaries came, the run folders did not. The arm left to run forks from B1
    # trained again, which must score as B1's summary says; the summaries there stay as they are.
    shutil.rmtree(out / "seed_0")
    (out / "summaries" / "advfc@0.json").unlink()
    code, _, err = cli(*args)
    assert code == 0, err
    assert {k: v for k, v in digests(out).items() if k != "advfc@0.json"} == {k: snapshot[k] for k in before}
    assert (out / "summaries" / "advfc@0.json").is_file() and (out / "seed_0" / "sft" / "final" / "fc").is_dir()
    # A B1 trained again that scores otherwise than its summary is refused before any arm forks from it.
    shutil.rmtree(out / "seed_0")
    (out / "summaries" / "advfc@0.json").unlink()
    sft = out / "summaries" / "sft@0.json"
    tampered = json.loads(sft.read_text())
    tampered["correct"] = ("0" if tampered["correct"][0] == "1" else "1") + tampered["correct"][1:]
    sft.write_text(json.dumps(tampered))
    snapshot = digests(out)
    code, _, err = cli(*args)
    assert code == 2 and "scores 1 of 4 sample items otherwise than this summary" in err and str(sft) in err
    assert digests(out) == snapshot and not (out / "seed_0" / "advfc").exists()


def test_b1s_hash_ignores_round_settings_and_no_hash_sees_where_the_folder_lies(tmp_path):
    assert set(ROUND_FIELDS) <= set(TrainConfig.model_fields)
    def arm(name, where="a", **overrides):
        config = ExperimentConfig.load(None, **overrides)
        return config.arm_config(name, 0, tmp_path / where / name, init_from=None, sample=tmp_path / where / "s")
    # B1 runs no rounds: F-phase and Q-phase settings do not decide its numbers, its warm start does.
    assert config_hash(arm(B1)) == config_hash(arm(B1, f_num_generations=8, f_batch_size=16, q_lr=1e-3, f_grpo={"epsilon": 0.3}))
    assert config_hash(arm(B1)) != config_hash(arm(B1, warm_start_lr=1e-3))
    assert config_hash(arm("grpo_clean")) != config_hash(arm("grpo_clean", f_num_generations=8, f_batch_size=16))
    # The same experiment copied to another folder keeps its hashes (and so its finished summaries).
    assert config_hash(arm("grpo_clean", "a")) == config_hash(arm("grpo_clean", "b"))


def test_summaries_published_before_a_setting_existed_keep_their_hash(tmp_path):
    # docs/results/experiment-cpu-uniform was run before pool_draw existed: at its old behaviour
    # (uniform) the setting leaves the hash alone, so those arms are not run again; any other
    # value is another arm. B1 runs no rounds, so its warm start is shared either way.
    folder = ROOT / "docs" / "results" / "experiment-cpu-uniform"
    config = ExperimentConfig.load(folder / "experiment.yaml")
    for name in (B1, "grpo_clean"):
        published = json.loads((folder / "summaries" / f"{name}@0.json").read_text())["config_hash"]
        arm = config.arm_config(name, 0, tmp_path / name, init_from=None, sample=tmp_path / "s")
        assert arm.pool_draw == "uniform" and config_hash(arm) == published
        stratified = config_hash(arm.model_copy(update={"pool_draw": "stratified"}))
        assert (stratified == published) == (name == B1)


def test_an_experiment_folder_moved_elsewhere_is_still_claimed(tmp_path):
    from advfc import experiment

    config = ExperimentConfig.load(None, model="tiny", output_dir=tmp_path / "exp", progress=False)
    experiment.claim_experiment(config, config.output_dir)
    (tmp_path / "exp").rename(tmp_path / "moved")
    experiment.claim_experiment(config.model_copy(update={"output_dir": tmp_path / "moved"}), tmp_path / "moved")
    with pytest.raises(InputError, match=r"other settings \(f_lr\)"):
        experiment.claim_experiment(config.model_copy(update={"output_dir": tmp_path / "moved", "f_lr": 1e-3}),
                                    tmp_path / "moved")


def test_a_b0_summary_is_completed_with_the_sets_it_lacks_not_redone(tmp_path, monkeypatch):
    from advfc import experiment

    sets = []
    for name, ids in (("tools", ["simple_python_5"]), ("rewrites", ["irrelevance_7"])):
        write_bfcl_files(load_bfcl_ids(ids), tmp_path / name)
        sets.append(str(tmp_path / name))
    config = ExperimentConfig.load(None, model="tiny", eval_per_category=1, eval_sample_categories=["simple_python"],
                                   eval_max_new_tokens=8, robustness_sets=sets[:1], output_dir=tmp_path / "exp", progress=False)
    folder = config.output_dir
    experiment.claim_experiment(config, folder)
    sample = experiment.freeze_sample(config, folder / "eval_sample")
    first = experiment.base_summary(config, folder, sample)
    assert list(first["robustness"]) == ["tools"]
    scored = []
    real = experiment.evaluate
    monkeypatch.setattr(experiment, "evaluate", lambda c: scored.append(c.questions) or real(c))
    wider = config.model_copy(update={"robustness_sets": sets})
    assert experiment.missing_sets(wider, first) == sets[1:]
    done = experiment.base_summary(wider, folder, sample, first)
    assert scored == [tmp_path / "rewrites" / "questions.jsonl"]  # only the set it lacked is evaluated
    assert done["robustness"]["tools"] == first["robustness"]["tools"] and {k: done[k] for k in first if k != "robustness"} == {
        k: v for k, v in first.items() if k != "robustness"}
    assert len(done["robustness"]["rewrites"]["correct"]) == 1 and done["robustness"]["rewrites"]["commit"] == first["commit"]
    with pytest.raises(InputError, match="a B0 summary of another held-out sample"):
        experiment.base_summary(wider, folder, sample, {**first, "sample_digest": "0" * 16})
