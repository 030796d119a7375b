"""Pieces of the loop that need no model: the F-phase mix, the seed pool, config checks."""

import random
from collections import Counter

import pytest

from advfc.data import Example, load_bfcl_ids
from advfc.errors import InputError
from advfc.game import Game
from advfc.models import load_tokenizer
from advfc.seeds import draw, load_seed_pool, warm_start_examples
from advfc.train_config import TrainConfig


class Log:
    def __init__(self):
        self.events = []

    def event(self, kind, **fields):
        self.events.append((kind, fields))


def game(tmp_path, **overrides):
    config = TrainConfig(output_dir=tmp_path, **overrides)
    g = Game(config, tmp_path, Log())
    g.use_pool(load_bfcl_ids([f"live_simple_{i}" for i in ("0-0-0", "1-1-0", "2-2-0", "3-2-1")]))
    return g


def test_a_round_without_valid_queries_trains_on_clean_seeds_and_says_so(tmp_path):
    g = game(tmp_path, alpha=1.0)
    mix = g.f_mix(4)
    assert len(mix) == 4 and {e.id for e in mix} <= set(g.pool)
    assert g.log.events and g.log.events[0][0] == "warning" and "no valid adversarial query" in g.log.events[0][1]["message"]


def test_f_mix_takes_alpha_adversarial_with_recent_rounds_weighted(tmp_path):
    g = game(tmp_path, alpha=0.5, recency_weight=1000.0)
    seed = g.pool["live_simple_0-0-0"]
    rows = [
        {"id": f"r{r}-x-{i}", "round": r, "seed_id": seed.id, "tactic": "paraphrase", "level": 1, "status": "valid",
         "query": f"rewrite {r} {i}", "reasons": [], "p_hat": 0.0, "p_hat_clean": 1.0, "error_types": [], "seed": seed.to_record()}
        for r in (1, 2) for i in range(4)
    ]
    g.buffer.append(rows)
    g.state.round = 2
    mix = g.f_mix(4)
    adversarial = [e for e in mix if e.id.startswith("r")]
    assert len(adversarial) == 2 and all(e.id.startswith("r2-") for e in adversarial)
    assert all(e.answers == seed.answers for e in adversarial)
    assert not game(tmp_path / "b", arm="grpo_clean").f_mix(4)[0].id.startswith("r")


def skewed_pool() -> list[Example]:
    """The shape of the live pool: abstention seeds are half of it, parallel ones a handful."""
    sizes = {"live_irrelevance": 50, "live_simple": 40, "live_multiple": 5, "live_parallel": 4, "live_parallel_multiple": 1}
    return [Example(id=f"{c}_{i}", category=c, tools=[], messages=[]) for c, n in sizes.items() for i in range(n)]


def test_a_stratified_draw_takes_every_category_in_turn_and_a_uniform_one_is_random_sample():
    pool = skewed_pool()
    assert draw(pool, 7, random.Random(3), "uniform") == random.Random(3).sample(pool, 7)
    counts = Counter(e.category for e in draw(pool, 10, random.Random(0), "stratified"))
    # two turns of five categories; live_parallel_multiple has one seed, so a third turn begins
    assert counts["live_parallel_multiple"] == 1 and sorted(counts.values()) == [1, 2, 2, 2, 3]
    # draws are distinct seeds, and a draw of more than the pool is the whole pool
    assert len({e.id for e in draw(pool, 30, random.Random(1), "stratified")}) == 30
    assert sorted(e.id for e in draw(pool, 500, random.Random(1), "stratified")) == sorted(e.id for e in pool)
    # n not a multiple of the categories: over many draws no category is favoured by its name
    shares = Counter(e.category for r in range(200) for e in draw(pool, 3, random.Random(r), "stratified"))
    assert len(shares) == 5 and all(n / 600 == pytest.approx(0.2, abs=0.05) for n in shares.values())


def test_the_clean_mix_and_the_attacked_seeds_follow_pool_draw(tmp_path):
    by_draw = {}
    for how in ("uniform", "stratified"):
        g = game(tmp_path / how, arm="grpo_clean", pool_draw=how)
        g.use_pool(skewed_pool())
        mixes = []
        for r in range(1, 21):
            g.state.round = r
            mixes += [e.category for e in g.f_mix(5)]
        by_draw[how] = Counter(mixes)["live_irrelevance"] / len(mixes)
    assert by_draw["uniform"] > 0.4 and by_draw["stratified"] == pytest.approx(0.2)


def test_seed_pool_warns_about_categories_that_do_not_fit(tiny_model_path):
    config = TrainConfig(train_categories="live_simple,live_parallel_multiple", max_prompt_tokens=560)
    warnings = []
    pool = load_seed_pool(config, load_tokenizer(tiny_model_path), warnings.append)
    assert pool and {e.category for e in pool} == {"live_simple"}
    assert "no seed of live_parallel_multiple fits max_prompt_tokens=560" in warnings[0]
    sample = warm_start_examples(pool, 10, seed=0)
    assert len(sample) == 10 and sample == warm_start_examples(pool, 10, seed=0)


def test_warm_start_sample_covers_every_category():
    examples = load_bfcl_ids(["live_simple_0-0-0", "live_simple_1-1-0", "live_simple_2-2-0", "live_irrelevance_0-0-0", "live_parallel_0-0-0"])
    assert {e.category for e in warm_start_examples(examples, 3, seed=0)} == {"live_simple", "live_irrelevance", "live_parallel"}


def test_config_rejects_batches_that_split_a_group():
    with pytest.raises(InputError, match="q_batch_size \\(6\\) must be a multiple of q_num_generations \\(4\\)"):
        TrainConfig.load(None, q_batch_size=6)


def test_resume_needs_a_run_folder(cli, tmp_path):
    code, _, err = cli("train", "--resume", tmp_path)
    assert code == 2 and "not a run folder (no config.yaml)" in err


def test_unknown_model_path_exits_2(cli, tmp_path):
    code, _, err = cli("train", "--model", tmp_path / "nope", "--output-dir", tmp_path / "run")
    assert code == 2 and "model path does not exist" in err and "Traceback" not in err
