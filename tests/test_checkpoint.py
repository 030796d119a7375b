"""Checkpoints hold no pickle, restore optimiser and RNG state exactly, keep two generations, and
refuse anything they did not write (a crafted, truncated or hand-edited file) without running it."""

import json
import os
import pickle
import random
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from advfc import checkpoint
from advfc.io import file_digest
from advfc.errors import InputError


@dataclass
class State:
    round: int
    stage: str = "warm_start"
    seeds: list[str] = field(default_factory=list)
    done: bool = False


class FakePlayers:
    """What `checkpoint.save` needs of `players.Players`: adapters on disk and AdamW state."""

    def __init__(self):
        self.weight = torch.nn.Parameter(torch.arange(6, dtype=torch.float32))
        self.optimizer = torch.optim.AdamW([self.weight], lr=1e-3, betas=(0.8, 0.9))
        self.weight.grad = torch.ones(6)
        self.optimizer.step()

    def save_adapters(self, folder):
        for adapter in ("fc", "query"):
            (folder / adapter).mkdir(parents=True)
            (folder / adapter / "adapter_config.json").write_text(json.dumps({"r": 4}))
            save_file({"lora": torch.zeros(2, 2)}, str(folder / adapter / "adapter_model.safetensors"))

    def optimizer_state(self):
        return {"fc": self.optimizer.state_dict()}


def save(run, stage="q_phase", players=None):
    return checkpoint.save(run, players or FakePlayers(), {"round": 1, "stage": stage, "seeds": ["a"], "done": False})


def test_optimizer_and_rng_state_round_trip_exactly(tmp_path):
    players = FakePlayers()
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    save(tmp_path, players=players)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    path, state, trainer = checkpoint.load_latest(tmp_path, State)
    assert state == State(1, "q_phase", ["a"]) and not list(path.rglob("*.pt"))
    checkpoint.set_rng_state(trainer["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
    restored = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(6))], lr=1e-3)
    restored.load_state_dict(trainer["optimizers"]["fc"])
    saved, loaded = players.optimizer.state_dict(), restored.state_dict()
    assert loaded["param_groups"] == saved["param_groups"] and loaded["param_groups"][0]["betas"] == (0.8, 0.9)
    assert all(torch.equal(saved["state"][0][k], loaded["state"][0][k]) for k in saved["state"][0])


def _truncate(path):
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _set(name, value):
    def edit(ck):
        data = json.loads((ck / "state.json").read_text())
        (ck / "state.json").write_text(json.dumps({**data, name: value}))

    return edit


DAMAGE = {
    "truncated tensors": lambda ck: _truncate(ck / "tensors.safetensors"),
    "torn state.json": lambda ck: _truncate(ck / "state.json"),
    "truncated adapter": lambda ck: _truncate(ck / "adapters" / "fc" / "adapter_model.safetensors"),
    "round: true": _set("round", True),
    "unknown field": _set("payload", 1),
    "missing field": lambda ck: (ck / "state.json").write_text(json.dumps({"stage": "q_phase"})),
    "extra pickle file": lambda ck: (ck / "adapters" / "fc" / "adapter_model.bin").write_bytes(b"x"),
    "no manifest": lambda ck: (ck / "manifest.json").unlink(),
    "manifest lists a .bin": lambda ck: (ck / "manifest.json").write_text(
        json.dumps({"format": 2, "files": {"adapters/fc/adapter_model.bin": {}}})),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_newest_checkpoint_falls_back_and_a_damaged_only_one_is_refused(tmp_path, damage):
    save(tmp_path, "q_phase")
    save(tmp_path, "harvest")
    damage(tmp_path / "checkpoint")
    warnings = []
    path, state, _ = checkpoint.load_latest(tmp_path, State, warnings.append)
    assert path == tmp_path / "checkpoint.prev" and state.stage == "q_phase"
    assert len(warnings) == 1 and "checkpoint" in warnings[0]
    damage(tmp_path / "checkpoint.prev")
    with pytest.raises(InputError, match=r"/checkpoint[/:]"):  # the newest one's problem
        checkpoint.load_latest(tmp_path, State)


def rewrite(ck, name, obj):
    """Replace a checkpoint file and record it in the manifest, as a crafted folder would."""
    (ck / name).write_text(json.dumps(obj))
    manifest = json.loads((ck / "manifest.json").read_text())
    manifest["files"][name] = file_digest(ck / name)
    (ck / "manifest.json").write_text(json.dumps(manifest))


def test_a_hand_edited_checkpoint_with_a_fresh_manifest_is_still_type_checked(tmp_path):
    """The manifest guards against damage; the strict readers against a crafted folder."""
    ck = save(tmp_path)
    rewrite(ck, "trainer.json", {"format": 2, "optimizers": {"fc": {"state": 3}}, "rng": {}})
    with pytest.raises(InputError, match="trainer.json: malformed optimiser or RNG state"):
        checkpoint.load(ck, State)
    rewrite(ck, "state.json", {"round": "1"})
    with pytest.raises(InputError, match="state.json: malformed game state: round: Input should be a valid integer"):
        checkpoint.load(ck, State)


def test_a_state_without_a_newer_defaulted_field_still_loads(tmp_path):
    ck = save(tmp_path)
    rewrite(ck, "state.json", {"round": 2})
    assert checkpoint.load(ck, State)[0] == State(2)


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_a_pickled_trainer_state_is_never_unpickled(tmp_path):
    """An old-format (or crafted) checkpoint: its pickle is refused unread."""
    marker = tmp_path / "payload-ran"
    ck = tmp_path / "checkpoint"
    ck.mkdir()
    (ck / "state.json").write_text(json.dumps({"round": 1, "stage": "q_phase"}))
    (ck / "trainer_state.pt").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(InputError, match="pickled trainer_state.pt, never loaded"):
        checkpoint.load_latest(tmp_path, State)
    assert not marker.exists()
