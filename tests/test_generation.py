"""The generation layer: batching, prefix reuse, sampling, stopping, adapters and backend choice."""

import copy
import sys

import pytest

from advfc.data import load_bfcl
from advfc.errors import InputError
from advfc.generation import SamplingParams, select_backend
from advfc.generation.hf import HFGenerator, _select, common_prefix_len, plan_batches
from advfc.prompts import fc_messages, render_chat

GREEDY = SamplingParams(max_new_tokens=10)


@pytest.fixture(scope="module")
def tokenizer():
    from advfc.models import load_tokenizer

    return load_tokenizer("tiny")


@pytest.fixture(scope="module")
def model(tokenizer):
    """Random weights scaled up so greedy outputs differ from prompt to prompt (the default tiny
    model answers every prompt with newlines, which would make equality tests vacuous)."""
    from advfc.models import build_tiny_model

    return build_tiny_model(tokenizer, initializer_range=0.3).eval()


def texts(completions):
    return [[c.text for c in row] for row in completions]


def rewrites(example, n):
    """Query-model-phase shape: one seed, several rewritten queries, one shared system prompt."""
    words = ["please", "right now", "thanks a lot", "for my homework", "quickly", "if you can"]
    return [example.with_query(f"{example.query} {words[i % len(words)]}") for i in range(n)]


@pytest.fixture(scope="module")
def conversations():
    seeds = load_bfcl("simple_python")[:3] + load_bfcl("multiple")[:2]
    shared = rewrites(seeds[0], 4) + rewrites(seeds[3], 3)
    return [fc_messages(e) for e in seeds + shared]


def test_batched_equals_one_at_a_time_in_input_order(model, tokenizer, conversations):
    batched = HFGenerator(model, tokenizer, batch_size=4, min_prefix_tokens=None).generate(conversations, GREEDY)
    single = HFGenerator(model, tokenizer, batch_size=1, min_prefix_tokens=None)
    alone = [single.generate([c], GREEDY)[0] for c in conversations]
    assert texts(batched) == texts(alone)
    assert len(set(t[0] for t in texts(batched))) > len(conversations) // 2  # outputs depend on the prompt
    assert all(len(row) == 1 and row[0].completion_tokens == 10 for row in batched)


def test_prefix_reuse_equals_plain_batching(model, tokenizer, conversations):
    plain = HFGenerator(model, tokenizer, batch_size=4, min_prefix_tokens=None)
    reuse = HFGenerator(model, tokenizer, batch_size=4, min_prefix_tokens=16)
    prompts = reuse.encode(conversations)
    plan = plan_batches(prompts, [repr(c[:-1]) for c in conversations], 4, 16)
    assert any(b.prefix_len > 400 for b in plan)  # the rewrites share their seed's system prompt
    assert texts(reuse.generate(conversations, GREEDY)) == texts(plain.generate(conversations, GREEDY))
    sampled = SamplingParams(max_new_tokens=8, temperature=1.0, n=2, seed=3)
    assert texts(reuse.generate(conversations, sampled)) == texts(plain.generate(conversations, sampled))


def test_plan_batches_groups_shared_prefixes_and_keeps_a_suffix():
    base = list(range(100))
    prompts = [base + [1], base + [2, 3], base, [7] * 50, [8] * 10]
    groups = ["a", "a", "a", "b", "c"]
    plan = plan_batches(prompts, groups, batch_size=8, min_prefix=20)
    assert sorted(r for b in plan for r in b.rows) == [0, 1, 2, 3, 4]
    (shared,) = [b for b in plan if set(b.rows) == {0, 1, 2}]
    assert shared.prefix_len == 99  # the shortest row keeps its last token to start decoding from
    assert all(b.prefix_len == 0 for b in plan if b is not shared)
    assert all(b.prefix_len == 0 for b in plan_batches(prompts, groups, 8, None))
    assert common_prefix_len([1, 2, 3], [1, 2, 4]) == 2


def test_sampling_is_reproducible_and_gives_n_samples(model, tokenizer, conversations):
    gen = HFGenerator(model, tokenizer, batch_size=3)
    params = SamplingParams(max_new_tokens=6, temperature=1.0, top_p=0.9, n=3, seed=7)
    first = gen.generate(conversations[:4], params)
    assert [len(row) for row in first] == [3, 3, 3, 3]
    assert texts(first) == texts(gen.generate(conversations[:4], params))
    assert texts(first) != texts(gen.generate(conversations[:4], SamplingParams(6, 1.0, 0.9, 3, seed=8)))
    assert len(set(texts(first)[0])) > 1
    # a row's samples do not depend on what it was batched with
    assert texts(first)[1] == texts(HFGenerator(model, tokenizer, batch_size=1).generate([conversations[1]], params))[0]


def test_greedy_n_returns_n_identical_completions(model, tokenizer, conversations):
    (row,) = HFGenerator(model, tokenizer).generate(conversations[:1], SamplingParams(max_new_tokens=5, n=3))
    assert len(row) == 3 and len({c.text for c in row}) == 1


def test_stops_at_eos_and_respects_max_new_tokens(model, tokenizer, conversations):
    import torch

    prompt = tokenizer(render_chat(tokenizer, conversations[0]), add_special_tokens=False, return_tensors="pt")
    reference = model.generate(**prompt, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new = reference[0, prompt.input_ids.shape[1] :].tolist()
    (row,) = HFGenerator(model, tokenizer).generate(conversations[:1], SamplingParams(max_new_tokens=6))
    assert row[0].text == tokenizer.decode(new, skip_special_tokens=True)  # same as transformers' generate
    assert (row[0].finish_reason, row[0].completion_tokens) == ("length", 6)

    stop_at = next(i for i in range(1, 6) if new[i] not in new[:i])
    stopping = copy.deepcopy(model)
    stopping.generation_config.eos_token_id = [tokenizer.eos_token_id, new[stop_at]]
    (row,) = HFGenerator(stopping, tokenizer).generate(conversations[:1], SamplingParams(max_new_tokens=6))
    assert row[0].finish_reason == "stop"
    assert row[0].text == tokenizer.decode(new[:stop_at], skip_special_tokens=True)
    assert row[0].completion_tokens == stop_at + 1
    assert torch.equal(reference, model.generate(**prompt, max_new_tokens=6, do_sample=False,
                                                 pad_token_id=tokenizer.pad_token_id))


def test_adapter_selection_on_a_two_adapter_peft_model(model, tokenizer, conversations):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(copy.deepcopy(model), config, adapter_name="query")
    peft_model.add_adapter("fc", config)
    peft_model.set_adapter("query")
    peft_model.train()
    convs = conversations[:3]

    def active_only(name):
        ref = copy.deepcopy(peft_model)
        ref.set_adapter(name)
        return texts(HFGenerator(ref, tokenizer).generate(convs, GREEDY))

    outputs = {name: texts(HFGenerator(peft_model, tokenizer, adapter=name).generate(convs, GREEDY))
               for name in ("query", "fc", "__base__")}
    assert outputs["fc"] == active_only("fc")
    assert outputs["query"] == active_only("query")
    assert outputs["__base__"] == texts(HFGenerator(model, tokenizer).generate(convs, GREEDY))
    assert len({str(v) for v in outputs.values()}) == 3
    assert peft_model.active_adapter == "query" and peft_model.training  # nothing switched or left in eval mode


def test_describe_fingerprints_in_memory_weights(model, tokenizer):
    import torch

    other = copy.deepcopy(model)
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    a, b = HFGenerator(model, tokenizer).describe(), HFGenerator(other, tokenizer).describe()
    assert a["backend"] == "hf" and a["fingerprint"] != b["fingerprint"]


def test_a_vanishing_top_p_samples_the_greedy_answer(model, tokenizer, conversations):
    """top_p -> 0 keeps only the most likely token, so sampling at temperature 1 is greedy decoding."""
    gen = HFGenerator(model, tokenizer, batch_size=4)
    greedy = texts(gen.generate(conversations[:4], GREEDY))
    sampled = texts(gen.generate(conversations[:4], SamplingParams(max_new_tokens=10, temperature=1.0, top_p=1e-6,
                                                                   n=3, seed=5)))
    assert sampled == [row * 3 for row in greedy]


def draws(logits, params, count=20_000, seed=0):
    """How often `_select` picks each token over `count` rows of the same logits."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    chosen = _select(logits.expand(count, -1), params, [generator] * count)
    return torch.bincount(chosen, minlength=logits.shape[-1]).double() / count


def test_sampled_token_frequencies_follow_the_tempered_softmax():
    import torch

    logits = torch.tensor([[2.0, -1.0, 0.5, 1.0, 0.0]])
    params = SamplingParams(temperature=0.7)
    expected = torch.softmax(logits[0].double() / 0.7, -1)
    observed = draws(logits, params)
    assert (observed - expected).abs().max() < 0.02
    chi_square = (20_000 * (observed - expected) ** 2 / expected).sum()
    assert chi_square < 18.47  # the 0.999 quantile with 4 degrees of freedom


def test_top_p_drops_exactly_the_tail_tokens():
    import torch

    probs = torch.tensor([0.1, 0.4, 0.05, 0.25, 0.2], dtype=torch.float64)
    logits = probs.log().float()[None]
    # by mass: 0.4 (token 1), 0.25 (3), 0.2 (4), 0.1 (0), 0.05 (2); a token is kept while the mass
    # before it is at most top_p, so 0.6 keeps tokens 1 and 3 and 0.7 adds token 4
    for top_p, kept in [(0.3, [1]), (0.6, [1, 3]), (0.7, [1, 3, 4]), (0.9, [1, 3, 4, 0])]:
        observed = draws(logits, SamplingParams(temperature=1.0, top_p=top_p), seed=int(top_p * 10))
        expected = torch.zeros(5, dtype=torch.float64)
        expected[kept] = probs[kept] / probs[kept].sum()
        tail = [t for t in range(5) if t not in kept]
        assert observed[tail].sum() == 0, top_p  # not one draw from the truncated tail
        assert (observed - expected).abs().max() < 0.02, top_p


def test_backend_selection():
    url = "http://127.0.0.1:8000/v1::m"
    assert select_backend("auto", url) == "openai"
    assert select_backend("auto", "embedded", has_vllm=True, has_cuda=True) == "vllm"
    assert select_backend("auto", "embedded", has_vllm=True, has_cuda=False) == "hf"
    assert select_backend("auto", "embedded", has_vllm=False, has_cuda=True) == "hf"
    assert select_backend("hf", "embedded", has_vllm=True, has_cuda=True) == "hf"
    assert select_backend("vllm", "embedded", has_vllm=True, has_cuda=False) == "vllm"
    for backend, spec in [("vllm", "embedded"), ("openai", "embedded"), ("hf", url), ("nope", "embedded")]:
        with pytest.raises(InputError):
            select_backend(backend, spec, has_vllm=False, has_cuda=False)


def test_generation_module_imports_no_engine():
    import subprocess

    code = "import sys, advfc.generation, advfc.evaluation; print('vllm' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_sampling_params_are_validated():
    with pytest.raises(InputError):
        SamplingParams(max_new_tokens=0)
    with pytest.raises(InputError):
        SamplingParams(top_p=0)


@pytest.mark.slow
def test_prefix_reuse_equals_plain_on_the_embedded_model():
    from advfc.models import load_model, load_tokenizer

    # float32: bf16 rounds the batch-1 prefix prefill and the batched one differently enough to
    # flip a greedy token now and then, which says nothing about prefix reuse itself.
    tokenizer, model = load_tokenizer("embedded"), load_model("embedded", dtype="float32")
    seeds = load_bfcl("multiple")[:2]
    conversations = [fc_messages(e) for seed in seeds for e in rewrites(seed, 3)]
    params = SamplingParams(max_new_tokens=16)
    reuse = HFGenerator(model, tokenizer, batch_size=3).generate(conversations, params)
    plain = HFGenerator(model, tokenizer, batch_size=3, min_prefix_tokens=None).generate(conversations, params)
    assert texts(reuse) == texts(plain)
