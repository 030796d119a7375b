"""The query model's side of the game: attack tactics, its prompt, and reading its output.

Q sees the tools, the original query, the gold call and one tactic, and must answer with one
rewritten user query whose gold call is unchanged. Its warm start is back-translation: the same
prompt without the original query, with the original query as the target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .data import Example, expects_no_call


@dataclass(frozen=True)
class Tactic:
    name: str
    level: int
    instruction: str


TACTICS: tuple[Tactic, ...] = (
    Tactic("paraphrase", 1, "Paraphrase it with different words and sentence structure."),
    Tactic("reorder", 1, "Give the details in a different order than the original."),
    Tactic("indirect", 2, "Ask indirectly, as a question or a wish, not as a direct command."),
    Tactic("irrelevant_detail", 2, "Add a sentence of background detail that does not change what is asked."),
    Tactic("filler", 2, "Make it chatty, with a greeting and filler words around the request."),
    Tactic("implicit_function", 3, "Describe the goal without naming the function or its obvious keywords."),
    Tactic(
        "distractor_entities",
        3,
        "Mention another name, number or place that is clearly not part of the request.",
    ),
    Tactic(
        "multiple_intents",
        3,
        "Add a second, unrelated wish that none of the tools can handle next to the real request.",
    ),
    Tactic("typos", 3, "Add a few natural typos in ordinary words, never inside names, numbers or values."),
)
MAX_LEVEL = max(t.level for t in TACTICS)


def tactic(name: str) -> Tactic:
    for t in TACTICS:
        if t.name == name:
            return t
    raise KeyError(name)


def tactics_up_to(level: int) -> list[Tactic]:
    return [t for t in TACTICS if t.level <= level]


SYSTEM = (
    "You write the user's request to a function-calling assistant. The request must be answered by "
    "exactly the given function call, with the same argument values: keep every name, number, date "
    "and place as written. Reply with the request only: no quotes, no explanation, no code."
)


def _tool_line(tool: dict) -> str:
    description = str(tool.get("description", "")).split(". ")[0].strip()
    return f"- {tool['name']}: {description[:120]}"


def query_messages(example: Example, gold_call: str, tactic: Tactic | None = None, *, with_original: bool = True) -> list[dict]:
    """Q's chat prompt. `with_original=False` is the back-translation (warm-start) form."""
    lines = ["Tools:", *(_tool_line(t) for t in example.tools)]
    if expects_no_call(example.category):
        lines.append("Correct call: none. No tool can answer the request; keep it that way and do not name the tools.")
    else:
        lines.append(f"Correct call: {gold_call}")
    if with_original:
        lines.append(f"Original request: {example.query}")
    if tactic is not None:
        lines.append(f"Rewrite it. {tactic.instruction}")
    lines.append("Request:")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


_LABEL = re.compile(r"^\s*(?:\*\*)?(?:rewritten request|rewrite|request|query|user)\s*:\s*(?:\*\*)?\s*", re.I)
_QUOTES = "\"'“”‘’`"


def parse_rewrite(text: str) -> str | None:
    """One rewritten query from Q's raw output, or None when there is none to read.

    Only framing is removed (a leading label, wrapping quotes, anything after the first blank
    line); the content itself is judged by the validity rules, not repaired here."""
    text = (text or "").strip()
    text = _LABEL.sub("", text, count=1)
    text = text.split("\n\n", 1)[0].strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text if re.search(r"[^\W\d_]", text) else None
