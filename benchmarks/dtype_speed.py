"""float32 vs bfloat16 on the CPU, on the embedded SmolLM2-135M-Instruct, side by side in one process.

(i)   the machine's matmul peak per dtype (best of a few 2048^2 matmuls), and the ratio the
      `dtype: auto` probe sees (advfc.models.matmul_seconds: 512^2, one thread);
(ii)  prefill: BFCL prompts one at a time (batch 1, logits of the last token only, as the
      generator prefills), tokens/s and the achieved FLOP rate against the measured peak;
(iii) decoding: a batch of rows, one token per row per step, on a KV cache;
(iv)  LoRA training (r=16, all linear layers, AdamW): forward + backward + optimiser step on
      the same batch in both dtypes, the step time and the loss before and after a few steps;
(v)   evaluation: items/s of greedy BFCL answers through HFGenerator (batches of 8 with
      shared-prefix reuse, as `advfc eval`), and how many answers are correct in each dtype.

Each workload runs float32 then bfloat16 right after it, so load from other jobs hits both alike.
The full run takes about 6 minutes on 2 threads of an AVX512-BF16 CPU:

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/dtype_speed.py
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/dtype_speed.py --prompts 4 --items 8 --train-steps 2   # ~2 min
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model

from advfc.checker import check
from advfc.data import AST_NON_LIVE, load_bfcl
from advfc.generation import SamplingParams
from advfc.generation.hf import HFGenerator
from advfc.models import cpu_bf16_faster, load_model, load_tokenizer, matmul_seconds
from advfc.prompts import fc_messages, gold_call_text, render_chat

DTYPES = ("float32", "bfloat16")


def cpu_model() -> str:
    """The CPU's name and whether it has bf16 units, from /proc/cpuinfo (Linux)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine()
    name = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    flags = set(re.search(r"^flags\s*:\s*(.*)$", info, re.M).group(1).split())
    units = sorted(flags & {"avx512_bf16", "amx_bf16"}) or ["no bf16 flags"]
    return f"{name.group(1) if name else platform.machine()} ({', '.join(units)})"


def examples(n: int):
    """n BFCL items spread over the non-live AST categories."""
    per = -(-n // len(AST_NON_LIVE))
    return [e for c in AST_NON_LIVE for e in load_bfcl(c)[:per]][:n]


def best_seconds(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_gflops(dtype: torch.dtype, n: int, repeats: int) -> float:
    a, b = torch.rand(n, n).to(dtype), torch.rand(n, n).to(dtype)
    return 2 * n**3 / best_seconds(lambda: torch.mm(a, b), repeats) / 1e9


def prefill_seconds(model, prompts: list[list[int]]) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        for ids in prompts:
            model(input_ids=torch.tensor([ids]), use_cache=True, logits_to_keep=1)
    return time.perf_counter() - start


def decode_seconds(model, prompts: list[list[int]], steps: int) -> float:
    """Seconds per decoding step of len(prompts) rows (cut to the shortest prompt: no padding)."""
    width = min(len(p) for p in prompts)
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([p[:width] for p in prompts]), use_cache=True, logits_to_keep=1)
        cache, token = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
        start = time.perf_counter()
        for _ in range(steps):
            out = model(input_ids=token, past_key_values=cache, use_cache=True)
            token = out.logits[:, -1].argmax(-1, keepdim=True)
    return (time.perf_counter() - start) / steps


def train(dtype: str, batch: torch.Tensor, steps: int, lr: float) -> dict:
    """`steps` LoRA updates on one batch; the loss before the first and after the last."""
    torch.manual_seed(0)
    config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(load_model("embedded", dtype=dtype, trainable=True), config)
    lora = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(lora, lr=lr)
    losses, times = [], []
    for _ in range(steps):
        start = time.perf_counter()
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
        losses.append(loss.item())
    with torch.no_grad():
        losses.append(model(input_ids=batch, labels=batch).loss.item())
    return {"step_s": min(times), "loss_first": losses[0], "loss_last": losses[-1],
            "losses": losses, "lora_dtype": str(lora[0].dtype).removeprefix("torch.")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--matmul", type=int, default=2048, help="(i) matrix size")
    parser.add_argument("--prompts", type=int, default=12, help="(ii) BFCL prompts to prefill")
    parser.add_argument("--decode-rows", type=int, default=8, help="(iii) rows per decoding step")
    parser.add_argument("--decode-steps", type=int, default=32, help="(iii) decoding steps")
    parser.add_argument("--train-rows", type=int, default=2, help="(iv) rows per training batch")
    parser.add_argument("--train-tokens", type=int, default=256, help="(iv) tokens per row")
    parser.add_argument("--train-steps", type=int, default=6, help="(iv) optimiser steps")
    parser.add_argument("--lr", type=float, default=2e-4, help="(iv) the warm start's learning rate")
    parser.add_argument("--items", type=int, default=24, help="(v) BFCL items to answer")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="(v) tokens per answer")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    tokenizer = load_tokenizer("embedded")
    models = {d: load_model("embedded", dtype=d, device="cpu") for d in DTYPES}
    # Per token, every weight matrix but the embedding is multiplied once (the tied lm_head only
    # for the last token): 2 FLOPs per such weight; attention scores come on top (a lower bound).
    matmul_params = sum(p.numel() for n, p in models["float32"].named_parameters() if "embed_tokens" not in n)
    numbers: dict = {d: {} for d in DTYPES}

    probe = matmul_seconds(DTYPES)
    for d in DTYPES:
        numbers[d]["peak_gflops"] = matmul_gflops(getattr(torch, d), args.matmul, repeats=5)

    items = examples(max(args.prompts, args.items, args.train_rows))
    generator = HFGenerator(models["float32"], tokenizer)
    prompts = generator.encode([fc_messages(e) for e in items[: args.prompts]])
    tokens = sum(len(p) for p in prompts)
    for d in DTYPES:
        prefill_seconds(models[d], prompts[:1])  # warm-up
        seconds = prefill_seconds(models[d], prompts)
        numbers[d]["prefill_tok_s"] = tokens / seconds
        numbers[d]["prefill_gflops"] = 2 * matmul_params * tokens / seconds / 1e9

    for d in DTYPES:
        step = decode_seconds(models[d], prompts[: args.decode_rows], args.decode_steps)
        numbers[d]["decode_step_ms"] = step * 1e3
        numbers[d]["decode_tok_s"] = min(args.decode_rows, len(prompts)) / step

    chats = [render_chat(tokenizer, fc_messages(e) + [{"role": "assistant", "content": gold_call_text(e)}],
                         add_generation_prompt=False) for e in items[: args.train_rows]]
    ids = tokenizer(chats, add_special_tokens=False)["input_ids"]
    batch = torch.tensor([row[-args.train_tokens:] for row in ids])  # the ends: the answers in the loss
    for d in DTYPES:
        numbers[d].update(train(d, batch, args.train_steps, args.lr))

    questions = items[: args.items]
    params = SamplingParams(max_new_tokens=args.max_new_tokens)
    answers = {}
    for d in DTYPES:
        gen = HFGenerator(models[d], tokenizer)
        gen.generate([fc_messages(questions[0])], SamplingParams(max_new_tokens=2))  # warm-up
        start = time.perf_counter()
        answers[d] = [row[0].text for row in gen.generate([fc_messages(e) for e in questions], params)]
        numbers[d]["eval_items_s"] = len(questions) / (time.perf_counter() - start)
        numbers[d]["eval_correct"] = sum(check(a, e).correct for a, e in zip(answers[d], questions))
    same_answers = sum(a == b for a, b in zip(*answers.values()))

    fp32, bf16 = numbers["float32"], numbers["bfloat16"]
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    print(f"auto probe (512^2, 1 thread): float32 {probe['float32'] * 1e3:.2f} ms, bfloat16 "
          f"{probe['bfloat16'] * 1e3:.2f} ms, {probe['float32'] / probe['bfloat16']:.2f}x -> "
          f"auto picks {'bfloat16' if cpu_bf16_faster() else 'float32'}")
    print(f"(ii) {len(prompts)} prompts, {min(map(len, prompts))}-{max(map(len, prompts))} tokens ({tokens} in all); "
          f"FLOPs counted: 2 x {matmul_params / 1e6:.1f}M matmul weights per token")
    print(f"(iv) {batch.shape[0]} x {batch.shape[1]} tokens, lr {args.lr}; LoRA weights "
          f"{fp32['lora_dtype']} / {bf16['lora_dtype']}; losses float32 "
          f"{[round(x, 4) for x in fp32['losses']]}, bfloat16 {[round(x, 4) for x in bf16['losses']]}")
    print(f"(v) {len(questions)} items, {args.max_new_tokens} new tokens: identical answers {same_answers}/{len(questions)}\n")
    rows = [
        (f"(i) matmul {args.matmul}^2, GFLOPS (peak)", "peak_gflops", "{:.1f}"),
        ("(ii) prefill, tokens/s", "prefill_tok_s", "{:.0f}"),
        ("(ii) prefill, achieved GFLOPS", "prefill_gflops", "{:.1f}"),
        (f"(iii) decoding {args.decode_rows} rows, ms/step", "decode_step_ms", "{:.1f}"),
        ("(iii) decoding, tokens/s", "decode_tok_s", "{:.1f}"),
        ("(iv) LoRA step fwd+bwd+AdamW, s", "step_s", "{:.2f}"),
        ("(iv) loss before training", "loss_first", "{:.4f}"),
        (f"(iv) loss after {args.train_steps} steps", "loss_last", "{:.4f}"),
        ("(v) evaluation, items/s", "eval_items_s", "{:.3f}"),
        (f"(v) correct of {len(questions)}", "eval_correct", "{}"),
    ]
    lower_is_better = {"decode_step_ms", "step_s"}
    print("| workload | float32 | bfloat16 | bf16 speed-up |\n|---|---:|---:|---:|")
    for label, key, fmt in rows:
        ratio = ""
        if key not in ("loss_first", "loss_last", "eval_correct"):
            ratio = f"{(fp32[key] / bf16[key] if key in lower_is_better else bf16[key] / fp32[key]):.2f}x"
        print(f"| {label} | {fmt.format(fp32[key])} | {fmt.format(bf16[key])} | {ratio} |")
    print()
    for d in DTYPES:
        share = numbers[d]["prefill_gflops"] / numbers[d]["peak_gflops"]
        print(f"{d}: prefill reaches {share:.0%} of the measured matmul peak ({1 / share:.1f}x from it)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"probe_s": probe, "same_answers": same_answers, **numbers}, f, indent=2)


if __name__ == "__main__":
    main()
