"""Generation speed of the HF backend on the embedded model, measured side by side in one process.

(a) BFCL evaluation shape: the same BFCL prompts one request at a time, batched, and batched with
    shared-prefix reuse (every BFCL system prompt starts with the same instructions).
(b) Query-model-phase shape: for each seed, Q's rewritten queries (here deterministic variations of
    the seed's query) each get k sampled FC answers; all rows of a seed share its long system
    prompt. Plain batching vs shared-prefix reuse, sampled (the real workload) and greedy.

With --compare-generate every workload also runs through transformers' own `model.generate` on
the hand loop's batches (same rows, same order, same max_new_tokens): left-padded with the
default DynamicCache, left-padded with `cache_implementation="static"`, and transformers'
prefix-caching recipe (prefill each shared prefix once, `copy.deepcopy` that DynamicCache for
every batch, pass it as `past_key_values`). The variants of a workload alternate over --repeats
rounds, so load from other jobs hits them alike; the table gives each one's median.

Prints the timings, the speed-ups and how many greedy outputs differ from the hand loop's default
(batched + shared-prefix reuse).

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/generation_speed.py
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/generation_speed.py --compare-generate --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time

import torch
from transformers import DynamicCache, GenerationConfig

from advfc.data import AST_NON_LIVE, load_bfcl
from advfc.generation import SamplingParams
from advfc.generation.hf import MIN_PREFIX_TOKENS, HFGenerator, plan_batches
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
HAND_DEFAULT = "hand loop, batched + shared-prefix reuse"


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


class Hand:
    """The hand loop: one HFGenerator call over all conversations, or one call per conversation."""

    def __init__(self, gen: HFGenerator, one_at_a_time: bool = False):
        self.gen, self.one_at_a_time = gen, one_at_a_time

    def __call__(self, convs, params: SamplingParams):
        calls = [[c] for c in convs] if self.one_at_a_time else [convs]
        out = [row for part in calls for row in self.gen.generate(part, params)]
        return [[c.text for c in row] for row in out], sum(c.completion_tokens for row in out for c in row)


class Generate:
    """transformers' `model.generate` on the batches HFGenerator would form for the same call.

    cache: "dynamic" (left padding, transformers' default cache), "static" (left padding,
    `cache_implementation="static"`) or "prefix" (the prefix-caching recipe: each distinct shared
    prefix is prefilled once into a DynamicCache, which every batch deep-copies and expands)."""

    def __init__(self, gen: HFGenerator, cache: str):
        self.gen, self.model, self.cache = gen, gen.model, cache

    def __call__(self, convs, params: SamplingParams):
        prompts = self.gen.encode(convs)
        samples = 1 if params.greedy else params.n
        rows = [(c, s) for c in range(len(prompts)) for s in range(samples)]
        row_prompts = [prompts[c] for c, _ in rows]
        # Grouped as HFGenerator groups them, so both see the same batches and shared prefixes.
        groups = [json.dumps(convs[c][:-1], sort_keys=True) for c, _ in rows]
        min_prefix = MIN_PREFIX_TOKENS if self.cache == "prefix" else None
        config = self.config(params)
        prefixes: dict[tuple, DynamicCache] = {}
        outputs: list = [None] * len(rows)
        torch.manual_seed(params.seed)
        with torch.inference_mode():
            for batch in plan_batches(row_prompts, groups, self.gen.batch_size, min_prefix):
                batch_prompts = [row_prompts[r] for r in batch.rows]
                for r, result in zip(batch.rows, self.batch(batch_prompts, batch.prefix_len, config, prefixes)):
                    outputs[r] = result
        texts: list[list[str]] = [[] for _ in prompts]
        for (c, _), (tokens, _) in zip(rows, outputs):
            texts[c].append(self.gen.tokenizer.decode(tokens, skip_special_tokens=True))
        return [t * (params.n // samples) for t in texts], sum(count for _, count in outputs)

    def config(self, params: SamplingParams) -> GenerationConfig:
        sampling = {} if params.greedy else {"temperature": params.temperature, "top_p": params.top_p, "top_k": 0}
        return GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            do_sample=not params.greedy,
            eos_token_id=sorted(self.gen.stop_ids),
            pad_token_id=self.gen.pad_id,
            cache_implementation="static" if self.cache == "static" else None,
            **sampling,  # top_k 0: transformers' default top-k of 50 would sample another distribution
        )

    def batch(self, prompts, prefix_len, config, prefixes):
        pad, width = self.gen.pad_id, max(map(len, prompts))
        kwargs = {}
        if prefix_len:
            prefix = tuple(prompts[0][:prefix_len])
            if prefix not in prefixes:
                prefixes[prefix] = DynamicCache(config=self.model.config)
                self.model(input_ids=torch.tensor([prefix]), past_key_values=prefixes[prefix], logits_to_keep=1)
            cache = copy.deepcopy(prefixes[prefix])
            cache.batch_repeat_interleave(len(prompts))
            kwargs["past_key_values"] = cache
            # The padding goes between the shared prefix and each row's own suffix: the cached prefix
            # sits at the same positions in every row, and generate takes positions from the mask.
            ids = [p[:prefix_len] + [pad] * (width - len(p)) + p[prefix_len:] for p in prompts]
            mask = [[1] * prefix_len + [0] * (width - len(p)) + [1] * (len(p) - prefix_len) for p in prompts]
        else:
            ids = [[pad] * (width - len(p)) + p for p in prompts]
            mask = [[0] * (width - len(p)) + [1] * len(p) for p in prompts]
        out = self.model.generate(
            input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), generation_config=config, **kwargs
        )
        results = []
        for row in out[:, width:].tolist():
            stop = next((i for i, tok in enumerate(row) if tok in self.gen.stop_ids), None)
            # As HFGenerator counts: the stop token is generated but not part of the text.
            results.append((row, len(row)) if stop is None else (row[:stop], stop + 1))
        return results


def interleaved(variants, repeats: int):
    """Runs every variant `repeats` times, rotating the order each round; returns per variant its
    median seconds, its outputs and generated tokens (the same each round: greedy, or seeded)."""
    times: dict[str, list[float]] = {label: [] for label, _ in variants}
    results = {}
    for r in range(repeats):
        shift = r % len(variants)
        for label, fn in variants[shift:] + variants[:shift]:
            start = time.perf_counter()
            results[label] = fn()
            times[label].append(time.perf_counter() - start)
    return {label: (statistics.median(times[label]), *results[label]) for label, _ in variants}


def differing(texts, reference) -> int:
    flat = [t for row in texts for t in row]
    return sum(a != b for a, b in zip(flat, [t for row in reference for t in row]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=64, help="(a) BFCL prompts")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="(a) tokens per answer")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=4, help="(b) seeds (BFCL multiple entries)")
    parser.add_argument("--queries", type=int, default=8, help="(b) rewritten queries per seed")
    parser.add_argument("--k", type=int, default=4, help="(b) FC samples per query")
    parser.add_argument("--fc-max-new-tokens", type=int, default=32, help="(b) tokens per FC answer")
    parser.add_argument("--compare-generate", action="store_true", help="also time transformers' model.generate")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of each variant (the median is reported)")
    parser.add_argument("--dtype", default="auto", help="model dtype (auto: what advfc picks on this machine)")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()

    tokenizer, model = load_tokenizer("embedded"), load_model("embedded", dtype=args.dtype)
    single = HFGenerator(model, tokenizer, batch_size=1, min_prefix_tokens=None)
    plain = HFGenerator(model, tokenizer, batch_size=args.batch_size, min_prefix_tokens=None)
    reuse = HFGenerator(model, tokenizer, batch_size=args.batch_size)
    compared = [(f"generate, {name}", Generate(reuse, cache)) for name, cache in (
        ("left-padded, DynamicCache", "dynamic"),
        ('left-padded, cache_implementation="static"', "static"),
        ("prefilled prefix cache (deepcopy per batch)", "prefix"),
    )] if args.compare_generate else []
    # Warm-up, so no timed variant pays the first calls' kernel selection and allocations.
    warm = bfcl_conversations(1)
    single.generate(warm, SamplingParams(max_new_tokens=4))
    for _, fn in compared:
        fn(warm, SamplingParams(max_new_tokens=4))
    load_before = os.getloadavg()

    table, numbers = [], {}

    def measure(name, shape, convs, params, variants):
        results = interleaved([(label, lambda fn=fn: fn(convs, params)) for label, fn in variants + compared],
                              args.repeats)
        first = results[variants[0][0]][0]
        reference = results[HAND_DEFAULT]
        numbers[name] = {}
        for label, (seconds, texts, tokens) in results.items():
            differ = differing(texts, reference[1]) if params.greedy else None
            numbers[name][label] = {"seconds": seconds, "new_tokens": tokens, "differ_from_hand_default": differ}
            rows = sum(map(len, texts))
            table.append((shape if label == variants[0][0] else "", label, seconds, first / seconds,
                          seconds / reference[0], tokens, "—" if differ is None else f"{differ}/{rows}"))

    batched = (f"hand loop, batched ({args.batch_size})", Hand(plain))
    default = (HAND_DEFAULT, Hand(reuse))
    convs = bfcl_conversations(args.prompts)
    params = SamplingParams(max_new_tokens=args.max_new_tokens)
    measure("a", f"(a) {len(convs)} BFCL prompts, greedy, {args.max_new_tokens} new tokens", convs, params,
            [("hand loop, one at a time", Hand(single, one_at_a_time=True)), batched, default])

    convs = query_phase_conversations(args.seeds, args.queries)
    shape = f"(b) {args.seeds} seeds x {args.queries} queries"
    sampled = SamplingParams(max_new_tokens=args.fc_max_new_tokens, temperature=1.0, n=args.k, seed=0)
    greedy = SamplingParams(max_new_tokens=args.fc_max_new_tokens)
    for name, p, label in (("b_sampled", sampled, f"x k={args.k} samples (T=1)"), ("b_greedy", greedy, "greedy")):
        measure(name, f"{shape} {label}, {args.fc_max_new_tokens} new tokens", convs, p, [batched, default])

    prompt_tokens = [len(ids) for ids in reuse.encode(convs[: args.queries])]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, dtype {str(model.dtype).removeprefix('torch.')}, "
          f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"(b) prompt length of seed 0: {min(prompt_tokens)}-{max(prompt_tokens)} tokens")
    print(f"medians of {args.repeats} interleaved rounds; speed-up against the workload's first row; "
          f"'x hand' = seconds / seconds of the {HAND_DEFAULT!r} row; differ = greedy rows whose text "
          f"differs from that row's\n")
    print("| workload | variant | seconds | speed-up | x hand | new tokens | differ |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in table:
        shape, label, seconds, speedup, vs_hand, tokens, differ = row
        print(f"| {shape} | {label} | {seconds:.1f} | {speedup:.2f}x | {vs_hand:.2f} | {tokens} | {differ} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(numbers, f, indent=2)


if __name__ == "__main__":
    main()
