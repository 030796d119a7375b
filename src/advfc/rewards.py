"""Everything a reward is (METHOD.md, "Rewards"): r_F for the FC model, r_Q for the query model,
the strict grading both share, and the two TRL reward callables (`FCReward`, `QueryPhaseReward`).

Both players are judged by one verdict: `grade(raw, example).strict`, which is BFCL's AST verdict
except that on irrelevance items a malformed call attempt is a failure (BFCL counts it as an
abstention). r_F pays it, and p-hat inside r_Q is its mean over k FC samples, so what Q is paid
for breaking is exactly what F is paid for getting right.

TRL passes every dataset column to a reward function as a keyword list: the F-phase rows carry
the item as a JSON string column `example`, the Q-phase rows the seed as `example` and the GRPO
group as `group`.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field

from .checker import Verdict, check, check_param, is_call_list
from .data import Example, is_irrelevance, is_relevance
from .generation import Generator, SamplingParams
from .prompts import fc_messages
from .query import parse_rewrite
from .validity import INVALID, UNPARSEABLE, VALID, Judge, Validity, ValidityRules, guard, max_similarity

# ----------------------------------------------------------------------------- grading one FC output

# A near miss must never pay as much as a hit.
_NEAR_MISS_CAP = 0.99
_CALL_SHAPE = re.compile(
    r"(?<![\w.])[A-Za-z_][\w.]*\(\s*(?:\)|\*\*|[A-Za-z_]\w*\s*=)"  # name() / name(**kw / name(arg=
    r"|<\s*/?\s*(?:tool_?call|function_?call|TOOLCALL)\b"  # tool-call tags
    r"""|["'](?:name|function)["']\s*:\s*["'][^"']+["']\s*,\s*["'](?:arguments|parameters|args)["']""",  # JSON calls
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def _tool_mention(names: tuple[str, ...]) -> re.Pattern:
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"""(?<![\w.])(?:{alternatives})\s*\(|:\s*["'](?:{alternatives})["']""")


def looks_like_call(raw) -> bool:
    """Call syntax whatever the tools: `name(arg=...`, `name()`, a JSON call object, a tool-call tag."""
    return isinstance(raw, str) and bool(_CALL_SHAPE.search(raw))


def is_call_attempt(raw: str, example: Example) -> bool:
    """Text that tries to call a function: a listed tool's name followed by `(` or quoted as a JSON
    value, `name(arg=...`, `name()`, `name(**...`, a JSON call object, or a tool-call tag. Prose
    may name a tool, quote it, or put `word (x = 1)` in parentheses."""
    if looks_like_call(raw):
        return True
    if not isinstance(raw, str):
        return False
    names = tuple(t["name"] for t in example.tools if t.get("name"))
    return bool(names) and bool(_tool_mention(names).search(raw))


def partial_credit(calls: list | None, example: Example) -> float:
    """Credit in [0, 1) for a wrong answer: gold and model calls are paired best-first by what a
    pair earns (right name 1/3, share of required arguments present 1/3, share of arguments whose
    value BFCL's per-parameter rules accept 1/3), summed over the larger of the two call counts."""
    gold = example.answers
    if not calls or not gold or not is_call_list(calls):
        return 0.0
    tools = {}
    for tool in example.tools:
        tools.setdefault(tool.get("name"), tool)
    pairs = []
    for g, answer in enumerate(gold):
        name, accepted = next(iter(answer.items()))
        for c, call in enumerate(calls):
            credit = _call_credit(call, name, accepted, tools.get(name))
            if credit > 0:
                pairs.append((credit, g, c))
    used_gold, used_calls, total = set(), set(), 0.0
    for credit, g, c in sorted(pairs, key=lambda pair: (-pair[0], pair[1], pair[2])):
        if g not in used_gold and c not in used_calls:
            used_gold.add(g)
            used_calls.add(c)
            total += credit
    return min(total / max(len(gold), len(calls)), _NEAR_MISS_CAP)


def _call_credit(call: dict, name: str, accepted: dict, tool: dict | None) -> float:
    if name not in call or tool is None:
        return 0.0
    args = call[name]
    schema = tool.get("parameters") or {}
    props, required = schema.get("properties") or {}, schema.get("required") or []
    present = sum(p in args for p in required) / len(required) if required else 1.0
    judged = set(args) | {p for p, options in accepted.items() if "" not in options}
    if not judged:
        return (2 + present) / 3
    good = sum(1 for p in judged if p in args and _param_ok(p, args[p], props, accepted))
    return (1 + present + good / len(judged)) / 3


def _param_ok(param, value, props, accepted) -> bool:
    try:
        return check_param(param, value, props, accepted) is None
    except Exception:
        return False


@dataclass(frozen=True)
class Grade:
    """Both verdicts: BFCL's, and advfc's strict one (which, on irrelevance items, also rejects a
    malformed call attempt that BFCL counts as an abstention), plus partial credit (1.0 if strict)."""

    verdict: Verdict
    strict: bool
    partial: float

    @property
    def error_type(self) -> str | None:
        """BFCL's error type, or advfc's own for the malformed call attempt BFCL lets pass."""
        if self.strict:
            return None
        return self.verdict.error_type or "irrelevance_error:malformed_call_attempt"


def grade(raw: str, example: Example) -> Grade:
    """What the FC reward needs from one output, decoding it once."""
    verdict = check(raw, example)
    if is_irrelevance(example.category):
        strict = verdict.correct and not (verdict.decoded is None and is_call_attempt(raw, example))
        return Grade(verdict, strict, 1.0 if strict else 0.0)
    if verdict.correct:
        return Grade(verdict, True, 1.0)
    partial = 0.0 if is_relevance(example.category) else partial_credit(verdict.decoded, example)
    return Grade(verdict, False, partial)


# ----------------------------------------------------------------------------- r_F


def completion_text(completion) -> str:
    """TRL passes plain-text completions as strings, conversational ones as a list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    if isinstance(completion, list) and completion:
        return completion_text(completion[-1])
    return ""


def _example_from_json(text: str) -> Example:
    return Example.from_dict(json.loads(text))


def flat_groups(rewards: list[float], groups: list) -> set:
    """The GRPO groups whose rewards are all equal: zero advantage, nothing learnt from them."""
    by_group = defaultdict(set)
    for r, g in zip(rewards, groups, strict=True):
        by_group[g].add(round(r, 9))
    return {g for g, values in by_group.items() if len(values) == 1}


def flat_group_share(rewards: list[float], groups: list) -> float | None:
    """Share of GRPO groups whose rewards are all equal."""
    return len(flat_groups(rewards, groups)) / len(set(groups)) if groups else None


class FCReward:
    """r_F: 1 when the strict verdict is correct, else `w_partial` x partial credit; on irrelevance
    items 1 only for a clean abstention (a malformed call attempt earns 0, though BFCL passes it).

    `w_partial` is read on every call, so it can be annealed between steps. Parsed examples are
    cached by their JSON string: GRPO scores each prompt's completions together. `flat_groups`
    records, per call, the share of prompts whose completions all earned the same reward.
    """

    def __init__(self, w_partial: float = 0.5, cache_size: int = 65536):
        self.__name__ = "fc_reward"
        self.w_partial = w_partial
        self.flat_groups: list[float] = []
        self._parse = functools.lru_cache(maxsize=cache_size)(_example_from_json)

    def __call__(self, prompts, completions, example, **kwargs) -> list[float]:
        scores = [self.score(completion_text(c), self.example(e)) for c, e in zip(completions, example, strict=True)]
        share = flat_group_share(scores, [e if isinstance(e, str) else id(e) for e in example])
        if share is not None:
            self.flat_groups.append(share)
        return scores

    def example(self, value) -> Example:
        if isinstance(value, Example):
            return value
        return self._parse(value) if isinstance(value, str) else Example.from_dict(value)

    def score(self, raw: str, example: Example) -> float:
        g = grade(raw, example)
        return 1.0 if g.strict else self.w_partial * g.partial

    def summary(self, gather=list) -> dict:
        """`gather` (advfc.distributed.gather) brings in the records of the other processes, which
        score their own shares of each step."""
        return {"f_flat_group_share": _mean(gather(self.flat_groups))}


# ----------------------------------------------------------------------------- r_Q


def query_reward(
    status: str,
    p_hat: float | None = None,
    *,
    mode: str = "zero_sum",
    target_failure: float = 0.3,
    max_sim: float = 0.0,
    lambda_div: float = 0.2,
) -> float:
    """r_Q for one rewrite. Invalid rewrites get a fixed floor (-1 unparseable, -0.5 rule-breaking)
    below any valid one; a valid rewrite earns the FC model's failure rate 1 - p_hat (`zero_sum`),
    or a peak at the curriculum's target failure rate d (`frontier`), minus the diversity penalty
    `lambda_div * max_sim` against the other rewrites of its group."""
    if status == UNPARSEABLE:
        return -1.0
    if status == INVALID:
        return -0.5
    if status != VALID:
        raise ValueError(f"unknown validity status {status!r}; expected {VALID}, {INVALID} or {UNPARSEABLE}")
    if p_hat is None or not 0.0 <= p_hat <= 1.0:
        raise ValueError(f"a valid rewrite needs p_hat in [0, 1], got {p_hat!r}")
    failure = 1.0 - p_hat
    if mode == "zero_sum":
        reward = failure
    elif mode == "frontier":
        d = target_failure
        if not 0.0 < d < 1.0:
            raise ValueError(f"target_failure must be in (0, 1), got {d!r}")
        reward = 1.0 - abs(failure - d) / max(d, 1.0 - d)
    else:
        raise ValueError(f"unknown reward mode {mode!r}; expected zero_sum or frontier")
    return reward - lambda_div * max_sim


@dataclass(frozen=True)
class QueryRewardSettings:
    """How a rewrite is scored: k FC samples at a temperature and budget, the reward mode, the
    diversity weight and the guard's rules."""

    k: int = 4
    fc_temperature: float = 0.7
    fc_max_new_tokens: int = 64
    reward_mode: str = "zero_sum"
    target_failure: float = 0.3
    lambda_div: float = 0.2
    rules: ValidityRules = field(default_factory=ValidityRules)


@dataclass(frozen=True)
class RewriteScore:
    query: str | None
    validity: Validity
    grades: tuple[Grade, ...] = ()
    max_sim: float = 0.0
    task_reward: float = 0.0
    reward: float = 0.0
    answers: tuple[str, ...] = ()  # F's k answers, as graded

    @property
    def p_hat(self) -> float | None:
        return sum(g.strict for g in self.grades) / len(self.grades) if self.grades else None


def sample_fc(examples: list[Example], fc: Generator, settings: QueryRewardSettings, rng_seed: int) -> list[list[tuple[str, Grade]]]:
    """k FC answers per example, each with its strict grade (one generation call)."""
    if not examples:
        return []
    params = SamplingParams(max_new_tokens=settings.fc_max_new_tokens, temperature=settings.fc_temperature,
                            n=settings.k, seed=rng_seed)
    outputs = fc.generate([fc_messages(ex) for ex in examples], params)
    return [[(c.text, grade(c.text, ex)) for c in completions] for ex, completions in zip(examples, outputs)]


def pass_rates(examples: list[Example], fc: Generator, settings: QueryRewardSettings, rng_seed: int) -> dict[str, float]:
    """The FC model's strict pass rate on each example's clean query (the curriculum's difficulty)."""
    samples = sample_fc(examples, fc, settings, rng_seed)
    return {ex.id: sum(g.strict for _, g in s) / len(s) for ex, s in zip(examples, samples)}


def score_rewrites(
    seeds: list[Example],
    raw_outputs: list[str],
    groups: list,
    fc: Generator,
    settings: QueryRewardSettings,
    *,
    truncated: list[bool] | None = None,
    rng_seed: int = 0,
    judge: Judge | None = None,
) -> list[RewriteScore]:
    """r_Q for each raw query-model output. `groups[i]` says which rewrites compete (one GRPO
    group, or one seed's harvest); `truncated[i]` that output i stopped at the token budget.

    The diversity penalty `lambda_div * max_sim` is applied only inside groups whose task
    rewards differ: in a group where every rewrite earns the same, GRPO's advantage would come
    from similarity alone and would teach Q to vary its wording, not to find weaknesses."""
    queries = [parse_rewrite(raw) for raw in raw_outputs]
    validity = guard(queries, seeds, rules=settings.rules, truncated=truncated, judge=judge)
    scored = [i for i, v in enumerate(validity) if v.valid]
    samples = dict(zip(scored, sample_fc([seeds[i].with_query(queries[i]) for i in scored], fc, settings, rng_seed)))
    grades = {i: tuple(g for _, g in s) for i, s in samples.items()}
    p_hats = [sum(g.strict for g in grades[i]) / len(grades[i]) if i in grades else None for i in range(len(queries))]
    task = [query_reward(v.status, p, mode=settings.reward_mode, target_failure=settings.target_failure, lambda_div=0.0)
            for v, p in zip(validity, p_hats)]
    flat = flat_groups(task, groups)
    results = []
    for i, (query, v) in enumerate(zip(queries, validity)):
        rivals = [q for j, q in enumerate(queries) if j != i and groups[j] == groups[i] and q]
        sim = max_similarity(query, rivals) if query else 0.0
        reward = task[i] if groups[i] in flat else task[i] - settings.lambda_div * sim
        answers = tuple(t for t, _ in samples.get(i, ()))
        results.append(RewriteScore(query, v, grades.get(i, ()), sim, task[i], reward, answers))
    return results


class QueryPhaseReward:
    """r_Q as a TRL reward function. Rows carry the seed (`example`, JSON) and the GRPO group;
    a completion is truncated when it filled `max_new_tokens` without an end token."""

    __name__ = "query_reward"

    def __init__(self, fc_generator: Generator, settings: QueryRewardSettings, rng_seed: int, *,
                 max_new_tokens: int, eos_token_ids: set[int] | frozenset[int] = frozenset(), judge: Judge | None = None):
        self.fc = fc_generator
        self.settings = settings
        self.rng_seed = rng_seed
        self.max_new_tokens = max_new_tokens
        self.eos_token_ids = set(eos_token_ids)
        self.judge = judge
        self.calls = 0
        self.results: list[RewriteScore] = []
        self.flat_groups: list[float] = []
        self._examples: dict[str, Example] = {}

    def __call__(self, prompts, completions, example, group, completion_ids=None, **kwargs) -> list[float]:
        seeds = [self._examples.setdefault(s, _example_from_json(s)) for s in example]
        texts = [completion_text(c) for c in completions]
        truncated = [self.is_truncated(ids) for ids in completion_ids] if completion_ids is not None else None
        results = score_rewrites(seeds, texts, group, self.fc, self.settings, truncated=truncated,
                                 rng_seed=self.rng_seed + self.calls, judge=self.judge)
        self.calls += 1
        self.results += results
        share = flat_group_share([r.task_reward for r in results], group)
        if share is not None:
            self.flat_groups.append(share)
        log = kwargs.get("log_metric")
        if log is not None:
            log("validity_rate", sum(r.validity.valid for r in results) / len(results))
            log("truncation_rate", sum("truncated" in r.validity.reasons for r in results) / len(results))
            log("flat_group_share", share)
        return [r.reward for r in results]

    def is_truncated(self, ids) -> bool:
        ids = list(ids)
        return len(ids) >= self.max_new_tokens and (not ids or ids[-1] not in self.eos_token_ids)

    def summary(self, gather=list) -> dict:
        """Over every rewrite of the phase: `gather` as in FCReward.summary."""
        results = gather(self.results)
        valid = [r for r in results if r.validity.valid]
        n = len(results)
        return {
            "q_validity_rate": len(valid) / n if n else None,
            "q_truncation_rate": sum("truncated" in r.validity.reasons for r in results) / n if n else None,
            "q_flat_group_share": _mean(gather(self.flat_groups)),
            "q_fc_accuracy": _mean(r.p_hat for r in valid),
        }


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None
