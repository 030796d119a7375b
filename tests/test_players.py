"""Two LoRA adapters on one base: each trains alone, and both survive a checkpoint round trip."""

import json
from dataclasses import dataclass

import pytest
import torch

from advfc import checkpoint
from advfc.players import FC, QUERY, LoraSettings, PhaseSettings, Players


@dataclass
class State:
    round: int
    stage: str


@pytest.fixture
def players(tiny_model_path):
    torch.manual_seed(0)
    return Players.create(tiny_model_path, LoraSettings(r=4, alpha=8, dropout=0.0))


def snapshot(players, adapter):
    return [p.detach().clone() for p in players.adapter_params(adapter)]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_grpo_updates_only_its_own_adapter(players, tmp_path):
    fc, query = snapshot(players, FC), snapshot(players, QUERY)
    rows = [{"prompt": [{"role": "user", "content": f"say {i}"}]} for i in range(4)]
    lengths = lambda prompts, completions, **kw: [float(len(c[-1]["content"]) % 7) for c in completions]  # noqa: E731
    lengths.__name__ = "lengths"
    settings = PhaseSettings(steps=2, lr=1e-2, batch_size=2, num_generations=2, max_new_tokens=8)
    history = players.grpo(QUERY, rows, [lengths], settings, tmp_path / "q", report_to=[], seed=0)
    assert history[-1]["step"] == 2
    assert same(fc, snapshot(players, FC)) and not same(query, snapshot(players, QUERY))
    assert set(players.optimizers) == {QUERY}


@pytest.mark.parametrize("checkpointing", [False, True])
def test_sft_updates_only_its_own_adapter(players, tmp_path, checkpointing):
    fc, query = snapshot(players, FC), snapshot(players, QUERY)
    rows = [{"prompt": [{"role": "user", "content": "hi"}], "completion": [{"role": "assistant", "content": "[f(a=1)]"}]}] * 4
    settings = PhaseSettings(steps=2, lr=1e-2, batch_size=2, gradient_checkpointing=checkpointing)
    players.sft(FC, rows, settings, tmp_path / "f", report_to=[], seed=0)
    assert not same(fc, snapshot(players, FC)) and same(query, snapshot(players, QUERY))
    assert players.model.base_model.model.is_activation_checkpointing == checkpointing


def test_checkpoint_round_trip(players, tiny_model_path, tmp_path):
    players.optimizer(FC, 1e-3)
    loss = sum(p.sum() for p in players.adapter_params(FC))
    loss.backward()
    players.optimizers[FC].step()
    state = {"round": 2, "stage": "harvest"}
    checkpoint.save(tmp_path, players, state)
    checkpoint.save(tmp_path, players, {**state, "stage": "f_phase"})
    path, saved, trainer = checkpoint.load_latest(tmp_path, State)
    assert path == tmp_path / "checkpoint" and saved == State(2, "f_phase")
    assert checkpoint.load(tmp_path / "checkpoint.prev", State)[0] == State(2, "harvest")  # one generation back
    assert not list(path.rglob("*.pt")) and not list(path.rglob("*.bin"))  # nothing pickled
    assert json.loads((path / "adapters" / FC / "adapter_config.json").read_text())["r"] == 4
    again = Players.create(tiny_model_path, LoraSettings(r=4, alpha=8, dropout=0.0), adapters=path / "adapters")
    for adapter in (FC, QUERY):
        assert same(snapshot(players, adapter), snapshot(again, adapter))
    again.load_optimizer_state(trainer["optimizers"], {FC: 1e-3, QUERY: 1e-3})
    assert again.optimizers[FC].state_dict()["param_groups"] == players.optimizers[FC].state_dict()["param_groups"]
    step = players.optimizers[FC].state_dict()["state"]
    assert all(torch.equal(step[k][m], again.optimizers[FC].state_dict()["state"][k][m]) for k in step for m in step[k])


def test_a_kill_between_the_renames_leaves_the_previous_checkpoint(players, tmp_path):
    checkpoint.save(tmp_path, players, {"round": 1, "stage": "q_phase"})
    (tmp_path / "checkpoint").rename(tmp_path / "checkpoint.prev")
    (tmp_path / "checkpoint.tmp").mkdir()
    assert checkpoint.load_latest(tmp_path, State)[0] == tmp_path / "checkpoint.prev"
    checkpoint.save(tmp_path, players, {"round": 1, "stage": "harvest"})
    assert checkpoint.load_latest(tmp_path, State)[1].stage == "harvest"
    assert not (tmp_path / "checkpoint.tmp").exists()


def test_a_bf16_base_trains_float32_adapters_that_round_trip(tiny_model_path, tmp_path):
    """What `dtype: auto` gives on a CPU with fast bf16: the base in bf16, the LoRA weights and
    their optimiser state in float32 (PEFT's autocast_adapter_dtype), through TRL unchanged."""
    lora = LoraSettings(r=4, alpha=8, dropout=0.0)
    players = Players.create(tiny_model_path, lora, dtype="bfloat16")
    assert next(players.model.parameters()).dtype == torch.bfloat16
    assert {p.dtype for a in (FC, QUERY) for p in players.adapter_params(a)} == {torch.float32}
    before = snapshot(players, QUERY)
    rows = [{"prompt": [{"role": "user", "content": f"say {i}"}]} for i in range(4)]
    lengths = lambda prompts, completions, **kw: [float(len(c[-1]["content"]) % 7) for c in completions]  # noqa: E731
    lengths.__name__ = "lengths"
    settings = PhaseSettings(steps=2, lr=1e-2, batch_size=2, num_generations=2, max_new_tokens=8)
    history = players.grpo(QUERY, rows, [lengths], settings, tmp_path / "q", report_to=[], seed=0)
    assert history[-1]["step"] == 2 and not same(before, snapshot(players, QUERY))
    assert all(s["exp_avg"].dtype == torch.float32 for s in players.optimizers[QUERY].state.values())
    assert players.generator(QUERY).describe()["dtype"] == "bfloat16"
    players.save_adapters(tmp_path / "adapters")
    again = Players.create(tiny_model_path, lora, dtype="bfloat16", adapters=tmp_path / "adapters")
    for adapter in (FC, QUERY):
        assert same(snapshot(players, adapter), snapshot(again, adapter))
        assert {p.dtype for p in again.adapter_params(adapter)} == {torch.float32}
