"""Examples in BFCL's shape, and loaders that turn BFCL, xLAM and OpenAI-tools data into them.

An `Example` is what every other layer consumes: tools as BFCL function docs, the chat messages
of the single turn, and the gold call as BFCL possible answers (each parameter maps to the list of
acceptable values; `""` in that list means the parameter may be omitted). No ML framework here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import InputError
from .io import iter_jsonl

BFCL_VERSION_PREFIX = "BFCL_v4"
BFCL_PIN = "bfcl-eval==2026.3.23"

# Single-turn BFCL categories advfc loads and scores (Python-syntax AST categories).
NON_LIVE = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance")
LIVE = (
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
    "live_relevance",
)
CATEGORIES = NON_LIVE + LIVE
AST_NON_LIVE = ("simple_python", "multiple", "parallel", "parallel_multiple")
AST_LIVE = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")


def is_irrelevance(category: str) -> bool:
    return "irrelevance" in category


def is_relevance(category: str) -> bool:
    return "relevance" in category and not is_irrelevance(category)


def expects_no_call(category: str) -> bool:
    return is_irrelevance(category)


@dataclass(frozen=True)
class Example:
    """One single-turn function-calling item; `answers` is BFCL's ground truth list."""

    id: str
    category: str
    tools: list[dict]
    messages: list[dict]
    answers: list[dict] = field(default_factory=list)
    source: str = "bfcl"

    @property
    def query(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return str(message.get("content") or "")
        return ""

    def with_query(self, text: str, *, id: str | None = None) -> "Example":
        """The same item with its last user message replaced (how a rewritten query is scored)."""
        messages = [dict(m) for m in self.messages]
        for message in reversed(messages):
            if message.get("role") == "user":
                message["content"] = text
                break
        else:
            messages.append({"role": "user", "content": text})
        return replace(self, messages=messages, id=id or self.id)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_record(self) -> dict:
        """A flat row for JSONL / `datasets`: tools and answers as JSON strings (as xLAM does),
        because their nested shapes differ from row to row and Arrow needs one schema."""
        return {
            "id": self.id,
            "category": self.category,
            "source": self.source,
            "query": self.query,
            "messages": [{"role": str(m.get("role")), "content": str(m.get("content") or "")} for m in self.messages],
            "tools": json.dumps(self.tools, ensure_ascii=False),
            "answers": json.dumps(self.answers, ensure_ascii=False),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Example":
        """Accepts both `to_dict()` and `to_record()` rows."""
        tools, answers = d["tools"], d.get("answers") or []
        return cls(
            id=str(d["id"]),
            category=d["category"],
            tools=json.loads(tools) if isinstance(tools, str) else tools,
            messages=d["messages"],
            answers=json.loads(answers) if isinstance(answers, str) else answers,
            source=d.get("source", "bfcl"),
        )


# ----------------------------------------------------------------------------- validation


def validate_example(ex: Example, *, path: str | Path | None = None) -> Example:
    """Reject records the checker and prompts cannot use, naming the record."""
    where = f"id {ex.id}"
    if not isinstance(ex.tools, list):
        raise InputError("'function' must be a list of function docs", path=path, where=where)
    names = set()
    for i, tool in enumerate(ex.tools):
        if not isinstance(tool, dict) or "name" not in tool:
            raise InputError(f"function #{i} has no 'name'", path=path, where=where)
        params = tool.get("parameters")
        if not isinstance(params, dict) or not isinstance(params.get("properties", {}), dict):
            raise InputError(
                f"function {tool['name']!r} needs 'parameters' with a 'properties' object", path=path, where=where
            )
        names.add(tool["name"])
    if not ex.messages or not any(m.get("role") == "user" for m in ex.messages):
        raise InputError("no user message in 'question'", path=path, where=where)
    if not isinstance(ex.answers, list):
        raise InputError("'ground_truth' must be a list of {function: {param: [values]}}", path=path, where=where)
    for answer in ex.answers:
        if not isinstance(answer, dict) or len(answer) != 1:
            raise InputError(
                "each ground-truth item must be {function_name: {param: [values]}}", path=path, where=where
            )
        (name, params), = answer.items()
        if name not in names:
            raise InputError(
                f"ground truth names unknown function {name!r}; the tools are {sorted(names)}",
                path=path,
                where=where,
            )
        if not isinstance(params, dict) or not all(isinstance(v, list) for v in params.values()):
            raise InputError(
                f"ground truth for {name!r} must map each parameter to a list of acceptable values",
                path=path,
                where=where,
            )
    return ex


# ----------------------------------------------------------------------------- BFCL


def bfcl_data_dir() -> Path:
    """The data folder of the installed `bfcl-eval` package, found without importing it."""
    override = os.environ.get("ADVFC_BFCL_DATA")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"the BFCL data is not installed; run `pip install --no-deps {BFCL_PIN}`")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def category_of_id(example_id: str) -> str:
    """BFCL ids are `<category>_<n>` (live ones `<category>_<n>-<group>-<k>`)."""
    m = re.match(r"^(.*)_\d+(?:-\d+-\d+)?$", example_id)
    if not m or m.group(1) not in CATEGORIES:
        raise InputError(f"not a BFCL id of a supported category: {example_id!r}")
    return m.group(1)


def check_category(category: str) -> str:
    if category not in CATEGORIES:
        raise InputError(f"unknown BFCL category {category!r}; expected one of: {', '.join(CATEGORIES)}")
    return category


def parse_categories(text: str | Iterable[str]) -> list[str]:
    """`simple_python,multiple` or a list; `all`, `non_live` and `live` are shorthands."""
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    groups = {"all": CATEGORIES, "non_live": NON_LIVE, "live": LIVE}
    out: list[str] = []
    for item in filter(None, items):
        for cat in groups.get(item) or [check_category(item)]:
            if cat not in out:
                out.append(cat)
    if not out:
        raise InputError("no category given")
    return out


def load_bfcl(category: str, data_dir: str | Path | None = None) -> list[Example]:
    """Every entry of one BFCL category, joined with its possible answers by id."""
    check_category(category)
    root = Path(data_dir) if data_dir else bfcl_data_dir()
    qpath = root / f"{BFCL_VERSION_PREFIX}_{category}.json"
    apath = root / "possible_answer" / f"{BFCL_VERSION_PREFIX}_{category}.json"
    answers: dict[str, list] = {}
    if apath.exists():
        for lineno, rec in iter_jsonl(apath):
            if "id" not in rec or "ground_truth" not in rec:
                raise InputError("expected {'id', 'ground_truth'}", path=apath, where=lineno)
            answers[rec["id"]] = rec["ground_truth"]
    elif not expects_no_call(category) and not is_relevance(category):
        raise InputError("possible-answer file missing", path=apath)
    out = []
    for lineno, rec in iter_jsonl(qpath):
        for key in ("id", "question", "function"):
            if key not in rec:
                raise InputError(f"missing {key!r}", path=qpath, where=lineno)
        turns = rec["question"]
        if not isinstance(turns, list) or not turns or not isinstance(turns[0], list):
            raise InputError("'question' must be a list of turns (lists of messages)", path=qpath, where=lineno)
        if answers and rec["id"] not in answers:
            raise InputError(f"no possible answer for id {rec['id']}", path=apath)
        ex = Example(
            id=rec["id"],
            category=category,
            tools=rec["function"],
            messages=turns[0],
            answers=answers.get(rec["id"], []),
        )
        out.append(validate_example(ex, path=qpath))
    return out


def load_bfcl_ids(ids: Iterable[str], data_dir: str | Path | None = None) -> list[Example]:
    """Examples for BFCL ids in the given order (loading each needed category once)."""
    ids = list(ids)
    by_cat: dict[str, dict[str, Example]] = {}
    for cat in dict.fromkeys(category_of_id(i) for i in ids):
        by_cat[cat] = {ex.id: ex for ex in load_bfcl(cat, data_dir)}
    out = []
    for i in ids:
        ex = by_cat[category_of_id(i)].get(i)
        if ex is None:
            raise InputError(f"id {i!r} is not in the installed BFCL data")
        out.append(ex)
    return out


# ----------------------------------------------------------------------------- gold calls -> possible answers


def call_to_possible_answer(name: str, arguments: dict, tool: dict) -> dict:
    """One concrete gold call as BFCL possible answers: the given value is required, parameters the
    tool declares but the call omits may be omitted (`""`), a value equal to the default may be too."""
    props = tool.get("parameters", {}).get("properties", {})
    required = set(tool.get("parameters", {}).get("required", []))
    params: dict[str, list] = {}
    for pname, value in arguments.items():
        ptype = props.get(pname, {}).get("type")
        if ptype == "dict" and isinstance(value, dict):
            accepted: list = [{k: [v] for k, v in value.items()}]
        elif ptype == "array" and isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            accepted = [[{k: [v] for k, v in item.items()} for item in value]]
        else:
            accepted = [value]
        if pname not in required and "default" in props.get(pname, {}) and props[pname]["default"] == value:
            accepted.append("")
        params[pname] = accepted
    for pname, spec in props.items():
        if pname not in params and pname not in required:
            params[pname] = [""] + ([spec["default"]] if spec.get("default") not in (None, "") else [])
    return {name: params}


def category_for_calls(n_calls: int, n_tools: int) -> str:
    if n_calls == 0:
        return "irrelevance"
    if n_calls == 1:
        return "simple" if n_tools == 1 else "multiple"
    return "parallel" if n_tools == 1 else "parallel_multiple"


def _gold_from_calls(calls: list[tuple[str, dict]], tools: list[dict], path, where) -> list[dict]:
    by_name = {t["name"]: t for t in tools}
    gold = []
    for name, args in calls:
        if name not in by_name:
            raise InputError(f"answer calls unknown tool {name!r}; tools are {sorted(by_name)}", path=path, where=where)
        if not isinstance(args, dict):
            raise InputError(f"arguments of {name!r} must be an object", path=path, where=where)
        gold.append(call_to_possible_answer(name, args, by_name[name]))
    return gold


def _json_field(value: Any, what: str, path, where) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise InputError(f"{what} is not valid JSON ({e.msg})", path=path, where=where) from None
    return value


# ----------------------------------------------------------------------------- xLAM

_XLAM_TYPES = {
    "str": "string", "string": "string", "int": "integer", "integer": "integer", "float": "float",
    "number": "float", "bool": "boolean", "boolean": "boolean", "list": "array", "array": "array",
    "dict": "dict", "object": "dict", "tuple": "tuple", "any": "any", "set": "array",
}


def _xlam_type(text: str) -> tuple[str, str | None, bool]:
    """'List[int], optional' -> ('array', 'integer', optional=True)."""
    text = str(text or "any").strip()
    optional = bool(re.search(r",\s*optional\s*$", text, re.I))
    text = re.sub(r",\s*optional\s*$", "", text, flags=re.I).strip()
    m = re.match(r"^(?:typing\.)?(\w+)\s*(?:\[(.*)\])?$", text)
    base = _XLAM_TYPES.get(m.group(1).lower(), "any") if m else "any"
    inner = None
    if base in ("array", "tuple"):
        inner_text = (m.group(2) or "any").split(",")[0] if m else "any"
        inner = _xlam_type(inner_text)[0]
    return base, inner, optional


def xlam_tool_to_bfcl(tool: dict) -> dict:
    props, required = {}, []
    for pname, spec in (tool.get("parameters") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        base, inner, optional = _xlam_type(spec.get("type", "any"))
        prop: dict[str, Any] = {"type": base, "description": str(spec.get("description", ""))}
        if inner:
            prop["items"] = {"type": inner}
        if "default" in spec:
            prop["default"] = spec["default"]
        elif not optional:
            required.append(pname)
        props[pname] = prop
    return {
        "name": tool["name"],
        "description": str(tool.get("description", "")),
        "parameters": {"type": "dict", "properties": props, "required": required},
    }


def xlam_record_to_example(rec: dict, *, path=None, where=None, id_prefix: str = "xlam") -> Example:
    for key in ("query", "tools", "answers"):
        if key not in rec:
            raise InputError(f"xLAM record needs {key!r}", path=path, where=where)
    tools_raw = _json_field(rec["tools"], "'tools'", path, where)
    answers_raw = _json_field(rec["answers"], "'answers'", path, where)
    if not isinstance(tools_raw, list) or not all(isinstance(t, dict) and "name" in t for t in tools_raw):
        raise InputError("'tools' must be a list of {name, description, parameters}", path=path, where=where)
    if not isinstance(answers_raw, list) or not all(isinstance(a, dict) and "name" in a for a in answers_raw):
        raise InputError("'answers' must be a list of {name, arguments}", path=path, where=where)
    tools = [xlam_tool_to_bfcl(t) for t in tools_raw]
    calls = [(a["name"], a.get("arguments") or {}) for a in answers_raw]
    gold = _gold_from_calls(calls, tools, path, where)
    ex = Example(
        id=f"{id_prefix}_{rec.get('id', where)}",
        category=category_for_calls(len(calls), len(tools)),
        tools=tools,
        messages=[{"role": "user", "content": str(rec["query"])}],
        answers=gold,
        source="xlam",
    )
    return validate_example(ex, path=path)


def load_xlam(source: str | Path, *, limit: int | None = None) -> list[Example]:
    """xLAM-60k from a local .json/.jsonl file, or by hub dataset name through `datasets`."""
    path = Path(source)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if text.lstrip().startswith("["):
            try:
                rows = list(enumerate(json.loads(text), 1))
            except json.JSONDecodeError as e:
                raise InputError(f"invalid JSON ({e.msg})", path=path, where=e.lineno) from None
            label = "record"
        else:
            rows = list(iter_jsonl(path))
            label = None
        out = []
        for n, rec in rows[:limit]:
            if not isinstance(rec, dict):
                raise InputError("expected a JSON object", path=path, where=n if label is None else f"record {n}")
            out.append(xlam_record_to_example(rec, path=path, where=n if label is None else f"record {n}"))
        return out
    if "/" not in str(source) or str(source).startswith((".", "/")):
        raise InputError("file not found", path=path)
    from .hub import load_hub_dataset

    ds = load_hub_dataset(str(source))
    rows = ds if limit is None else ds.select(range(min(limit, len(ds))))
    return [xlam_record_to_example(dict(r), path=source, where=f"row {i}") for i, r in enumerate(rows)]


# ----------------------------------------------------------------------------- OpenAI tools chat JSONL

_JSON_SCHEMA_TYPES = {
    "string": "string", "integer": "integer", "number": "float", "boolean": "boolean",
    "array": "array", "object": "dict",
}


def _schema_to_bfcl(schema: dict) -> dict:
    t = schema.get("type", "any")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "any")
    out: dict[str, Any] = {"type": _JSON_SCHEMA_TYPES.get(t, "any"), "description": str(schema.get("description", ""))}
    for key in ("enum", "default"):
        if key in schema:
            out[key] = schema[key]
    if out["type"] == "array":
        out["items"] = _schema_to_bfcl(schema.get("items") or {})
    if out["type"] == "dict" and "properties" in schema:
        out["properties"] = {k: _schema_to_bfcl(v) for k, v in schema["properties"].items()}
    return out


def openai_tool_to_bfcl(tool: dict) -> dict:
    fn = tool.get("function", tool)
    params = fn.get("parameters") or {"type": "object", "properties": {}}
    return {
        "name": fn["name"],
        "description": str(fn.get("description", "")),
        "parameters": {
            "type": "dict",
            "properties": {k: _schema_to_bfcl(v) for k, v in (params.get("properties") or {}).items()},
            "required": list(params.get("required") or []),
        },
    }


def openai_record_to_example(rec: dict, *, path=None, where=None, id_prefix: str = "openai") -> Example:
    if not isinstance(rec.get("messages"), list) or not rec["messages"]:
        raise InputError("record needs a non-empty 'messages' list", path=path, where=where)
    if not isinstance(rec.get("tools"), list):
        raise InputError("record needs a 'tools' list", path=path, where=where)
    for i, t in enumerate(rec["tools"]):
        fn = t.get("function", t) if isinstance(t, dict) else None
        if not isinstance(fn, dict) or "name" not in fn:
            raise InputError(f"tools[{i}] needs a 'function' with a 'name'", path=path, where=where)
    tools = [openai_tool_to_bfcl(t) for t in rec["tools"]]
    messages = rec["messages"]
    last = messages[-1]
    if last.get("role") != "assistant":
        raise InputError("the last message must be the assistant's answer (tool_calls or text)", path=path, where=where)
    calls = []
    for call in last.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or "name" not in fn:
            raise InputError("each tool_call needs function.name", path=path, where=where)
        calls.append((fn["name"], _json_field(fn.get("arguments") or {}, "tool_call arguments", path, where)))
    prompt = [{"role": m["role"], "content": m.get("content") or ""} for m in messages[:-1]]
    ex = Example(
        id=str(rec.get("id", f"{id_prefix}_{where}")),
        category=category_for_calls(len(calls), len(tools)),
        tools=tools,
        messages=prompt,
        answers=_gold_from_calls(calls, tools, path, where),
        source="openai",
    )
    return validate_example(ex, path=path)


def load_openai_jsonl(path: str | Path, *, limit: int | None = None) -> list[Example]:
    out = []
    for lineno, rec in iter_jsonl(path):
        if limit is not None and len(out) >= limit:
            break
        if not isinstance(rec, dict):
            raise InputError("expected a JSON object", path=path, where=lineno)
        out.append(openai_record_to_example(rec, path=path, where=lineno, id_prefix=Path(path).stem))
    return out


def load_examples_jsonl(path: str | Path) -> list[Example]:
    """advfc's own export format (one `Example.to_dict()` per line)."""
    out = []
    for lineno, rec in iter_jsonl(path):
        try:
            ex = Example.from_dict(rec)
        except KeyError as e:
            raise InputError(f"not an advfc example (missing {e})", path=path, where=lineno) from None
        except (TypeError, json.JSONDecodeError) as e:
            raise InputError(f"not an advfc example ({e})", path=path, where=lineno) from None
        out.append(validate_example(ex, path=path))
    return out
