"""Generation speed of the HF backend on the embedded model, measured side by side in one process.

(a) BFCL evaluation shape: the same BFCL prompts one request at a time, batched, and batched with
    shared-prefix reuse (every BFCL system prompt starts with the same instructions).
(b) Query-model-phase shape: for each seed, Q's rewritten queries (here deterministic variations of
    the seed's query) each get k sampled FC answers; all rows of a seed share its long system
    prompt. Plain batching vs shared-prefix reuse, sampled (the real workload) and greedy.

Prints the timings, the speed-ups and whether the outputs are identical.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/generation_speed.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from advfc.data import AST_NON_LIVE, load_bfcl
from advfc.generation import SamplingParams
from advfc.generation.hf import HFGenerator
from advfc.models import load_model, load_tokenizer
from advfc.prompts import fc_messages

VARIATIONS = (
    "{q}",
    "Please help: {q}",
    "{q} Thanks in advance.",
    "Quick question. {q}",
    "I need this for a report. {q}",
    "{q} Please answer with the right call.",
    "Hi! {q}",
    "Could you do this for me? {q}",
)


def bfcl_conversations(n: int) -> list[list[dict]]:
    """n prompts spread over the non-live AST categories."""
    per = -(-n // len(AST_NON_LIVE))
    examples = [e for c in AST_NON_LIVE for e in load_bfcl(c)[:per]][:n]
    return [fc_messages(e) for e in examples]


def query_phase_conversations(seeds: int, queries: int) -> list[list[dict]]:
    examples = load_bfcl("multiple")[:seeds]
    return [
        fc_messages(e.with_query(VARIATIONS[i % len(VARIATIONS)].format(q=e.query)))
        for e in examples
        for i in range(queries)
    ]


def texts(completions) -> list[list[str]]:
    return [[c.text for c in row] for row in completions]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=64, help="(a) BFCL prompts")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="(a) tokens per answer")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=4, help="(b) seeds (BFCL multiple entries)")
    parser.add_argument("--queries", type=int, default=8, help="(b) rewritten queries per seed")
    parser.add_argument("--k", type=int, default=4, help="(b) FC samples per query")
    parser.add_argument("--fc-max-new-tokens", type=int, default=32, help="(b) tokens per FC answer")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()

    import torch

    tokenizer, model = load_tokenizer("embedded"), load_model("embedded")
    single = HFGenerator(model, tokenizer, batch_size=1, min_prefix_tokens=None)
    plain = HFGenerator(model, tokenizer, batch_size=args.batch_size, min_prefix_tokens=None)
    reuse = HFGenerator(model, tokenizer, batch_size=args.batch_size)
    single.generate(bfcl_conversations(1), SamplingParams(max_new_tokens=4))  # warm-up

    rows, numbers = [], {}

    convs = bfcl_conversations(args.prompts)
    params = SamplingParams(max_new_tokens=args.max_new_tokens)
    one_by_one, t_single = timed(lambda: [single.generate([c], params)[0] for c in convs])
    batched, t_plain = timed(lambda: plain.generate(convs, params))
    prefixed, t_reuse = timed(lambda: reuse.generate(convs, params))
    same = texts(one_by_one) == texts(batched) == texts(prefixed)
    numbers["a"] = {"one_at_a_time_s": t_single, "batched_s": t_plain, "batched_prefix_s": t_reuse, "identical": same}
    rows += [
        (f"(a) {len(convs)} BFCL prompts, {args.max_new_tokens} new tokens, one at a time", t_single, 1.0),
        (f"(a) same, batched ({args.batch_size})", t_plain, t_single / t_plain),
        ("(a) same, batched + shared-prefix reuse", t_reuse, t_single / t_reuse),
    ]

    convs = query_phase_conversations(args.seeds, args.queries)
    shape = f"{args.seeds} seeds x {args.queries} queries"
    sampled = SamplingParams(max_new_tokens=args.fc_max_new_tokens, temperature=1.0, n=args.k, seed=0)
    greedy = SamplingParams(max_new_tokens=args.fc_max_new_tokens)
    for name, p, label in (("b_sampled", sampled, f"x k={args.k} samples (T=1)"), ("b_greedy", greedy, "greedy")):
        out_plain, t_plain = timed(lambda: plain.generate(convs, p))
        out_reuse, t_reuse = timed(lambda: reuse.generate(convs, p))
        same = texts(out_plain) == texts(out_reuse)
        numbers[name] = {"plain_s": t_plain, "prefix_s": t_reuse, "identical": same}
        rows += [
            (f"(b) {shape} {label}, {args.fc_max_new_tokens} new tokens, plain batching", t_plain, 1.0),
            (f"(b) same, shared-prefix reuse (outputs identical: {same})", t_reuse, t_plain / t_reuse),
        ]

    prompt_tokens = [len(ids) for ids in reuse.encode(convs[: args.queries])]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    print(f"(b) prompt length of seed 0: {min(prompt_tokens)}-{max(prompt_tokens)} tokens")
    print(f"(a) outputs identical one-at-a-time / batched / prefix: {numbers['a']['identical']}\n")
    print("| workload | seconds | speed-up |\n|---|---:|---:|")
    for label, seconds, ratio in rows:
        print(f"| {label} | {seconds:.1f} | {ratio:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(numbers, f, indent=2)


if __name__ == "__main__":
    main()
