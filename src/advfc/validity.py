"""Oracle preservation: is a rewritten query still answered by the seed's gold call?

Deterministic rules (METHOD.md, "Validity"), always on; each rejected query records why, so the
validity rate and its causes can be reported every round. Pure functions, standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .checker import is_call_attempt, standardize_string
from .data import Example, expects_no_call

VALID, UNPARSEABLE, INVALID = "valid", "unparseable", "invalid"


@dataclass(frozen=True)
class ValidityRules:
    max_similarity: float = 0.9
    max_length_ratio: float = 3.0


@dataclass(frozen=True)
class Validity:
    status: str
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def valid(self) -> bool:
        return self.status == VALID


# ----------------------------------------------------------------------------- text helpers


_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:[,\u202f ]\d{3})+|\d+)(?:\.\d+)?(?![\w])|(?<![\w.])-?\.\d+")


def numbers_in(text: str) -> set[float]:
    """Every number written with digits, in common spellings: 1000, 1,000, 1 000, 2.50, .5, -3."""
    out = set()
    for m in _NUMBER.finditer(text):
        token = re.sub(r"[,\u202f ]", "", m.group(0))
        try:
            out.add(float(token))
        except ValueError:
            continue
    return out


def char_ngrams(text: str, n: int = 3) -> set[str]:
    text = " ".join(text.lower().split())
    return {text[i : i + n] for i in range(max(1, len(text) - n + 1))}


def similarity(a: str, b: str) -> float:
    """Character-trigram Jaccard: cheap, order-aware enough to tell a copy from a rewrite."""
    x, y = char_ngrams(a), char_ngrams(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def max_similarity(query: str, others: list[str]) -> float:
    return max((similarity(query, o) for o in others), default=0.0)


# ----------------------------------------------------------------------------- the gold call's literals


def _literal_groups(label: str, accepted: list) -> list[tuple[str, list]]:
    """Groups of interchangeable scalar alternatives inside one possible-answer list; dict values
    ({key: [values]}) and list elements give one group per key / position. A value the gold call
    may omit ("" accepted) need not survive: the call without it still answers the rewrite."""
    if "" in accepted:
        return []
    alternatives = list(accepted)
    scalars = [v for v in alternatives if not isinstance(v, (list, dict))]
    groups = [(label, scalars)] if scalars else []
    structured = next((v for v in alternatives if isinstance(v, (list, dict))), None)
    if isinstance(structured, dict):
        for key, sub in structured.items():
            groups += _literal_groups(f"{label}.{key}", sub if isinstance(sub, list) else [sub])
    elif isinstance(structured, list):
        for i, item in enumerate(structured):
            groups += _literal_groups(f"{label}[{i}]", [item])
    return groups


def appears(value, text: str, text_numbers: set[float]) -> bool:
    if isinstance(value, bool) or value is None or value == "":
        return False
    if isinstance(value, (int, float)):
        return float(value) in text_numbers
    if isinstance(value, str):
        norm = standardize_string(value)
        return bool(norm) and norm in standardize_string(text)
    return False


def preserved_literals(example: Example) -> list[tuple[str, list]]:
    """(parameter, acceptable alternatives) for every gold literal the original query states: a
    rewrite may use any spelling BFCL accepts, but must keep every value that was stated."""
    nums = numbers_in(example.query)
    groups = []
    for answer in example.answers:
        ((name, params),) = answer.items()
        for pname, accepted in params.items():
            groups += _literal_groups(f"{name}.{pname}", accepted)
    return [(label, alts) for label, alts in groups if any(appears(v, example.query, nums) for v in alts)]


# ----------------------------------------------------------------------------- the rules


def tool_names(example: Example) -> set[str]:
    names = set()
    for tool in example.tools:
        full = tool["name"]
        names.update({full.lower(), full.split(".")[-1].lower()})
    return {n for n in names if len(n) >= 4}


def check_rewrite(query: str | None, example: Example, gold_call: str, rules: ValidityRules = ValidityRules()) -> Validity:
    """Apply rules 1-4 to a parsed rewrite (None = the output could not be parsed into a query)."""
    if query is None or not query.strip():
        return Validity(UNPARSEABLE, ("no query in the output",))
    reasons = []
    original = example.query
    nums = numbers_in(query)
    for param, alternatives in preserved_literals(example):
        if not any(appears(v, query, nums) for v in alternatives):
            reasons.append(f"drops value {alternatives[0]!r} of {param}")
    if "```" in query:
        reasons.append("contains a code fence")
    if is_call_attempt(query, example):
        reasons.append("contains call syntax")
    gold_body = gold_call.strip("[]")
    if gold_body and gold_body in query:
        reasons.append("contains the gold call verbatim")
    sim = similarity(query, original)
    if sim >= rules.max_similarity:
        reasons.append(f"too similar to the original ({sim:.2f} >= {rules.max_similarity})")
    if len(query) > rules.max_length_ratio * max(len(original), 1):
        reasons.append(f"longer than {rules.max_length_ratio:g}x the original")
    if expects_no_call(example.category):
        lowered = query.lower()
        named = sorted(n for n in tool_names(example) if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", lowered))
        if named:
            reasons.append(f"names a tool ({named[0]}) in an irrelevance rewrite")
    return Validity(INVALID, tuple(reasons)) if reasons else Validity(VALID)
