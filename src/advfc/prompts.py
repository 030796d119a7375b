"""Prompts. The FC prompt is BFCL's prompt-mode system prompt, assembled at run time from the
installed `bfcl_eval` templates so our numbers stay comparable with the leaderboard; training and
evaluation both go through `fc_messages`."""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache

from .data import Example

_FORMAT_RE = re.compile(
    r"^ret_fmt=(?P<ret>\w+)&tool_call_tag=(?P<tag>True|False)&func_doc_fmt=(?P<doc>\w+)"
    r"&prompt_fmt=(?P<prompt>\w+)&style=(?P<style>\w+)$"
)


@lru_cache(maxsize=1)
def _bfcl_prompts():
    from bfcl_eval.constants import default_prompts

    return default_prompts


def default_prompt_format() -> str:
    return _bfcl_prompts().DEFAULT_SYSTEM_PROMPT_FORMAT


def bfcl_system_prompt(tools: list[dict], prompt_format: str | None = None) -> str:
    """BFCL's `formulate_system_prompt` for the python return format with JSON function docs."""
    P = _bfcl_prompts()
    m = _FORMAT_RE.match(prompt_format or P.DEFAULT_SYSTEM_PROMPT_FORMAT)
    if not m or m["ret"] != "python" or m["doc"] != "json":
        raise ValueError(f"advfc supports python calls with JSON docs only, got {prompt_format!r}")
    style = P.PROMPT_STYLE_TEMPLATES[m["style"]]
    key = "tool_call_with_tag" if m["tag"] == "True" else "tool_call_no_tag"
    tool_call_format = style[key].format(
        output_format=P.OUTPUT_FORMAT_MAPPING["python"], param_types=P.PARAM_TYPE_MAPPING["python"]
    )
    available_tools = style["available_tools"].format(format="json", functions=json.dumps(tools, indent=4))
    return P.PROMPT_TEMPLATE_MAPPING[m["prompt"]].format(
        persona=style["persona"],
        task=style["task"],
        tool_call_format=tool_call_format,
        multiturn_behavior=style["multiturn_behavior"],
        available_tools=available_tools,
    )


def python_hinted_tools(tools: list[dict]) -> list[dict]:
    """BFCL appends a language hint to every function description before prompting."""
    from bfcl_eval.utils import _func_doc_language_specific_pre_processing

    return _func_doc_language_specific_pre_processing(copy.deepcopy(tools), "simple_python")


def fc_messages(example: Example, prompt_format: str | None = None) -> list[dict]:
    """The chat the FC model sees: BFCL's system prompt (merged into an existing system message,
    as BFCL does) followed by the example's messages."""
    system = bfcl_system_prompt(python_hinted_tools(example.tools), prompt_format)
    messages = [dict(m) for m in example.messages]
    if messages and messages[0].get("role") == "system":
        messages[0]["content"] = system + "\n\n" + str(messages[0].get("content") or "")
    else:
        messages.insert(0, {"role": "system", "content": system})
    return messages


def render_chat(tokenizer, messages: list[dict], *, add_generation_prompt: bool = True, **template_kwargs) -> str:
    """The chat as the model's template renders it; `template_kwargs` reach the template as
    variables (`enable_thinking=False` turns Qwen3's thinking off; other templates ignore it)."""
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt, **template_kwargs
    )


def gold_call_text(example: Example) -> str:
    """A canonical call string for the gold answer: the first acceptable value of each parameter,
    omitting parameters that may be omitted. Used as SFT target and in the query-model prompt."""
    calls = []
    for answer in example.answers:
        (name, params), = answer.items()
        args = [f"{p}={v!r}" for p, values in params.items() if (v := first_value(values)) != ""]
        calls.append(f"{name}({', '.join(args)})")
    return "[" + ", ".join(calls) + "]"


def first_value(values: list):
    """The first acceptable value of a possible-answer list, unwrapping BFCL's one-level
    dict form ({key: [values]}) and list-of-dicts form; "" when the parameter may be omitted."""
    value = next((v for v in values if v != ""), "")
    if isinstance(value, dict):
        return _unwrap(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [_unwrap(v) for v in value]
    return value


def _unwrap(d: dict) -> dict:
    out = {}
    for key, values in d.items():
        if isinstance(values, list):
            values = next((v for v in values if v != ""), "")
        if values != "":
            out[key] = values
    return out

