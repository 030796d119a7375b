import pytest

from advfc.models import EMBEDDED, build_tiny_model, embedded_dir, load_model, load_tokenizer, prepare_embedded


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
