"""vLLM generation (used automatically on a GPU when vLLM is installed). Imported only when the vLLM
backend is chosen: importing it imports vLLM."""

from __future__ import annotations

import json
from pathlib import Path

from vllm import LLM
from vllm import SamplingParams as VLLMSamplingParams
from vllm.lora.request import LoRARequest

from ..models import adapter_base, fingerprint, resolve_model
from .base import Completion, SamplingParams


class VLLMGenerator:
    """vLLM with automatic prefix caching (the shared system prompt is computed once per seed);
    a PEFT adapter folder is served as a LoRA request on its base model."""

    def __init__(self, spec: str, *, dtype: str = "auto", gpu_memory_utilization: float = 0.85,
                 chat_template_kwargs: dict | None = None):
        path = resolve_model(spec)
        base = adapter_base(path)
        options = {"enable_prefix_caching": True, "dtype": dtype, "gpu_memory_utilization": gpu_memory_utilization}
        self.lora = None
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        if base:
            rank = json.loads((Path(path) / "adapter_config.json").read_text())["r"]
            options.update(enable_lora=True, max_lora_rank=max(8, 1 << (rank - 1).bit_length()))  # vLLM's sizes
            self.lora = LoRARequest("adapter", 1, path)
        self.llm = LLM(model=resolve_model(base) if base else path, **options)
        self.info = {
            "backend": "vllm", "model": spec, "path": path, "base_model": base, "fingerprint": fingerprint(path)
        }

    def describe(self) -> dict:
        return dict(self.info)

    def generate(self, conversations: list[list[dict]], params: SamplingParams) -> list[list[Completion]]:
        sampling = VLLMSamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            seed=None if params.greedy else params.seed,
        )
        outputs = self.llm.chat(conversations, sampling, use_tqdm=False, lora_request=self.lora,
                                chat_template_kwargs=self.chat_template_kwargs or None)
        return [
            [
                Completion(o.text, len(out.prompt_token_ids), len(o.token_ids),
                           "stop" if o.finish_reason == "stop" else "length")
                for o in out.outputs
            ]
            for out in outputs
        ]

