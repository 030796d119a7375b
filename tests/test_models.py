import pytest
import torch

from advfc import models
from advfc.errors import InputError
from advfc.models import (
    EMBEDDED, build_tiny_model, embedded_dir, load_model, load_tokenizer, matmul_seconds, prefers_bf16,
    prepare_embedded,
)


def test_tiny_model_shares_the_embedded_tokenizer(tiny_model_path):
    tokenizer = load_tokenizer(tiny_model_path)
    model = load_model(tiny_model_path)
    assert model.config.vocab_size == len(tokenizer) == 49152
    assert sum(p.numel() for p in model.parameters()) < 5_000_000
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None


def test_tiny_model_is_seeded(tiny_model_path):
    tokenizer = load_tokenizer(tiny_model_path)
    a, b = build_tiny_model(tokenizer, seed=3), build_tiny_model(tokenizer, seed=3)
    assert all((x == y).all() for x, y in zip(a.parameters(), b.parameters()))


@pytest.mark.slow
def test_embedded_model_is_a_plain_trainable_hf_model():
    path = prepare_embedded()
    assert path == embedded_dir() and (path / "model.safetensors").exists()
    model = load_model(EMBEDDED, trainable=True)
    assert getattr(model, "hf_quantizer", None) is None
    assert 134_000_000 < sum(p.numel() for p in model.parameters()) < 135_000_000


def test_bf16_is_preferred_only_when_clearly_faster():
    assert prefers_bf16(fp32_seconds=3.0, bf16_seconds=1.0)  # bf16 units: ~3x
    assert prefers_bf16(fp32_seconds=1.5, bf16_seconds=1.0)
    assert not prefers_bf16(fp32_seconds=1.4, bf16_seconds=1.0)  # a near tie keeps float32
    assert not prefers_bf16(fp32_seconds=1.0, bf16_seconds=2.0)  # emulated bf16


@pytest.fixture
def probe(monkeypatch):
    """Set what the CPU probe reports."""
    def set_(faster: bool):
        monkeypatch.setattr(models, "cpu_bf16_faster", lambda: faster)
    return set_


def test_auto_on_cpu_follows_the_probe(probe):
    probe(True)
    assert models._dtype("auto", "cpu") == torch.bfloat16
    assert models._dtype("auto", "cpu", tiny=True) == torch.float32
    assert models._dtype("float32", "cpu") == torch.float32
    probe(False)
    assert models._dtype("auto", "cpu") == torch.float32
    assert models._dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.raises(InputError):
        models._dtype("half", "cpu")


def test_auto_on_cuda_ignores_the_cpu_probe(monkeypatch):
    monkeypatch.setattr(models, "cpu_bf16_faster", lambda: pytest.fail("probed the CPU for a CUDA model"))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert models._dtype("auto", "cuda") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert models._dtype("auto", "cuda:0") == torch.float16


def test_auto_loads_bf16_where_the_probe_says_faster_but_keeps_tiny_float32(probe, tiny_model_path, tmp_path):
    probe(True)
    assert load_model(tiny_model_path).dtype == load_model("tiny").dtype == torch.float32
    build_tiny_model(load_tokenizer(tiny_model_path)).save_pretrained(tmp_path)  # the same weights elsewhere
    assert load_model(str(tmp_path)).dtype == torch.bfloat16
    probe(False)
    assert load_model(str(tmp_path)).dtype == torch.float32


def test_the_probe_times_each_dtype_and_leaves_rng_and_threads_alone():
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    rng = torch.get_rng_state()
    seconds = matmul_seconds(("float32", "bfloat16"), n=64, repeats=2)
    assert set(seconds) == {"float32", "bfloat16"} and all(0 < s < 1 for s in seconds.values())
    assert torch.equal(torch.get_rng_state(), rng) and torch.get_num_threads() == threads
    models.cpu_bf16_faster(), models.cpu_bf16_faster()
    assert models.cpu_bf16_faster.cache_info().misses == 1  # measured once per process
