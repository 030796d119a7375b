"""Two LoRA adapters on one base: each trains alone, and both survive a checkpoint round trip."""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from advfc import checkpoint
from advfc.players import FC, QUERY, Players, grpo_args, lora_config, rows_needed, sft_args
from advfc.seeds import TokenBudgets
from advfc.train_config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = TokenBudgets(query=8, fc=8, longest_answer=0, query_p95=0)
SMALL = TrainConfig(lora={"r": 4, "lora_alpha": 8, "lora_dropout": 0.0}, report_to=["none"], q_steps=2, q_lr=1e-2,
                    q_batch_size=2, q_num_generations=2, warm_start_lr=1e-2, warm_start_batch_size=2)


@dataclass
class State:
    round: int
    stage: str


@pytest.fixture
def players(tiny_model_path):
    torch.manual_seed(0)
    return Players.create(tiny_model_path, lora_config(SMALL))


def snapshot(players, adapter):
    return [p.detach().clone() for p in players.adapter_params(adapter)]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_grpo_updates_only_its_own_adapter(players, tmp_path):
    fc, query = snapshot(players, FC), snapshot(players, QUERY)
    rows = [{"prompt": [{"role": "user", "content": f"say {i}"}]} for i in range(4)]
    lengths = lambda prompts, completions, **kw: [float(len(c[-1]["content"]) % 7) for c in completions]  # noqa: E731
    lengths.__name__ = "lengths"
    history = players.grpo(QUERY, rows, [lengths], grpo_args(SMALL, QUERY, BUDGETS, 0, tmp_path / "q", "cpu"))
    assert history[-1]["step"] == 2
    assert same(fc, snapshot(players, FC)) and not same(query, snapshot(players, QUERY))
    assert set(players.optimizers) == {QUERY}


@pytest.mark.parametrize("checkpointing", [False, True])
def test_sft_updates_only_its_own_adapter(players, tmp_path, checkpointing):
    fc, query = snapshot(players, FC), snapshot(players, QUERY)
    rows = [{"prompt": [{"role": "user", "content": "hi"}], "completion": [{"role": "assistant", "content": "[f(a=1)]"}]}] * 4
    config = SMALL.model_copy(update={"gradient_checkpointing": checkpointing})
    players.sft(FC, rows, sft_args(config, BUDGETS, len(rows), tmp_path / "f", "cpu"))
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
    again = Players.create(tiny_model_path, lora_config(SMALL), adapters=path / "adapters")
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


def test_the_paper_recipe_reaches_each_players_trl_and_peft_configs(tmp_path):
    """Every key of its sections arrives as written; GRPOConfig takes use_vllm without vLLM installed
    (TRL imports it when the trainer starts), so this runs on a CPU."""
    config = TrainConfig.load(ROOT / "configs" / "paper-qwen3-0.6b.yaml")
    assert {"beta", "loss_type", "epsilon", "max_grad_norm", "bf16", "use_vllm", "vllm_mode"} <= set(config.grpo)
    q, f = (grpo_args(config, a, BUDGETS, 1, tmp_path, "cpu") for a in (QUERY, FC))
    for args, own in ((q, config.q_grpo), (f, config.f_grpo)):
        assert all(getattr(args, k) == v for k, v in {**config.grpo, **own}.items())
    assert (q.epsilon_high, f.epsilon_high) == (0.28, None)  # q_grpo's key, TRL's default for F
    assert (q.learning_rate, q.max_steps, q.num_generations) == (config.q_lr, config.q_steps, config.q_num_generations)
    sft = sft_args(config, BUDGETS, 100, tmp_path, "cpu")
    assert config.sft and all(getattr(sft, k) == v for k, v in config.sft.items())
    lora = lora_config(config)
    assert (lora.r, lora.lora_alpha, lora.lora_dropout, lora.target_modules) == (32, 64, 0.05, "all-linear")


def test_a_players_section_goes_over_the_shared_one_and_both_over_advfcs_defaults(tmp_path):
    config = TrainConfig(grpo={"epsilon": 0.3, "max_grad_norm": 0.5}, f_grpo={"epsilon": 0.1, "lr_scheduler_type": "cosine"})
    q, f = (grpo_args(config, a, BUDGETS, 1, tmp_path, "cpu") for a in (QUERY, FC))
    assert (q.epsilon, q.max_grad_norm, q.lr_scheduler_type) == (0.3, 0.5, "constant")
    assert (f.epsilon, f.max_grad_norm, f.lr_scheduler_type) == (0.1, 0.5, "cosine")


def test_a_config_without_sections_trains_as_before(tmp_path):
    """The settings advfc chose before the sections existed, unchanged (kill/resume runs compare bytes)."""
    config = TrainConfig.load(ROOT / "configs" / "smoke.yaml")
    args = grpo_args(config, FC, BUDGETS, 2, tmp_path, "cpu")
    assert (args.lr_scheduler_type, args.save_strategy, args.use_cpu, args.bf16, args.dataloader_num_workers) == (
        "constant", "no", True, False, 0)
    assert (args.seed, args.data_seed, args.logging_steps, args.gradient_checkpointing, args.shuffle_dataset) == (
        config.seed + 2, config.seed + 2, 1, False, True)
    assert (args.max_completion_length, args.temperature, args.beta) == (BUDGETS.fc, config.f_temperature, 0.0)
    assert rows_needed(args) == config.f_steps * config.f_batch_size // config.f_num_generations


@pytest.mark.parametrize(("section", "prompts"), [({}, 4), ({"gradient_accumulation_steps": 2}, 8), ({"num_iterations": 2}, 2)])
def test_rows_needed_follows_trls_generation_schedule(tmp_path, section, prompts):
    config = TrainConfig(f_steps=2, f_batch_size=4, f_num_generations=2, f_grpo=section)
    assert rows_needed(grpo_args(config, FC, BUDGETS, 1, tmp_path, "cpu")) == prompts


@pytest.mark.parametrize(("fields", "expect"), [
    ({"q_grpo": {"learning_rate": 1e-5}}, "learning_rate is given by field q_lr, not by a section"),
    ({"grpo": {"max_steps": 3}}, "max_steps is given by field q_steps and field f_steps"),
    ({"sft": {"num_train_epochs": 2}}, "num_train_epochs is given by field warm_start_epochs"),
    ({"f_grpo": {"weight_decay": 0.1}}, "each player keeps one torch AdamW"),
    ({"lora": {"task_type": "SEQ_CLS"}}, "task_type is given by advfc"),
    ({"f_grpo": {"epsilon": 0.1, "betta": 0.1}}, "unknown GRPOConfig key 'betta'"),
    ({"sft": {"num_generations": 2}}, "unknown SFTConfig key 'num_generations'"),
    ({"lora": {"rank": 8}}, "unknown LoraConfig key 'rank'"),
    ({"grpo": {"beta": 0.04}}, "beta must be 0"),
])
def test_a_section_key_that_cannot_go_to_trl_is_refused_at_load(fields, expect):
    with pytest.raises(ValueError, match=expect):
        TrainConfig(**fields)


def test_a_bf16_base_trains_float32_adapters_that_round_trip(tiny_model_path, tmp_path):
    """What `dtype: auto` gives on a CPU with fast bf16: the base in bf16, the LoRA weights and
    their optimiser state in float32 (PEFT's autocast_adapter_dtype), through TRL unchanged."""
    lora = lora_config(SMALL)
    players = Players.create(tiny_model_path, lora, dtype="bfloat16")
    assert next(players.model.parameters()).dtype == torch.bfloat16
    assert {p.dtype for a in (FC, QUERY) for p in players.adapter_params(a)} == {torch.float32}
    before = snapshot(players, QUERY)
    rows = [{"prompt": [{"role": "user", "content": f"say {i}"}]} for i in range(4)]
    lengths = lambda prompts, completions, **kw: [float(len(c[-1]["content"]) % 7) for c in completions]  # noqa: E731
    lengths.__name__ = "lengths"
    history = players.grpo(QUERY, rows, [lengths], grpo_args(SMALL, QUERY, BUDGETS, 0, tmp_path / "q", "cpu"))
    assert history[-1]["step"] == 2 and not same(before, snapshot(players, QUERY))
    assert all(s["exp_avg"].dtype == torch.float32 for s in players.optimizers[QUERY].state.values())
    assert players.generator(QUERY).describe()["dtype"] == "bfloat16"
    players.save_adapters(tmp_path / "adapters")
    again = Players.create(tiny_model_path, lora, dtype="bfloat16", adapters=tmp_path / "adapters")
    for adapter in (FC, QUERY):
        assert same(snapshot(players, adapter), snapshot(again, adapter))
        assert {p.dtype for p in again.adapter_params(adapter)} == {torch.float32}
