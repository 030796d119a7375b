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
from .io import iter_jsonl, parse_json, read_text

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
# Parameter types a BFCL function doc may use (the checker's type table).
BFCL_TYPES = ("string", "integer", "float", "boolean", "array", "tuple", "dict", "any")
ROLES = ("system", "user", "assistant", "tool")
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
            tools=parse_json(tools) if isinstance(tools, str) else tools,
            messages=d["messages"],
            answers=parse_json(answers) if isinstance(answers, str) else answers,
            source=d.get("source", "bfcl"),
        )


def example_from_record(rec: Any, *, path: str | Path | None = None, where: str | int | None = None) -> Example:
    """An `Example.to_dict()` / `to_record()` row from a file, fully validated; anything else is an
    InputError naming the file and line."""
    if not isinstance(rec, dict):
        raise InputError("expected a JSON object (an advfc example)", path=path, where=where)
    missing = [k for k in ("id", "tools", "category", "messages") if k not in rec]
    if missing:
        raise InputError(f"not an advfc example (missing {missing[0]!r})", path=path, where=where)
    try:
        ex = Example.from_dict(rec)
    except InputError as e:
        raise InputError(f"not an advfc example ({e.message})", path=path, where=where) from None
    if not isinstance(ex.category, str) or not isinstance(ex.source, str):
        raise InputError("not an advfc example ('category' and 'source' must be strings)", path=path, where=where)
    return validate_example(ex, path=path)


# ----------------------------------------------------------------------------- validation


def validate_example(ex: Example, *, path: str | Path | None = None) -> Example:
    """Reject records the checker and prompts cannot use, naming the record: every tool a BFCL
    function doc (typed parameters), every message a {role, content} pair of strings, the ground
    truth a list of {function: {param: [values]}} naming the tools."""
    where = f"id {ex.id}"
    names = check_tools(ex.tools, path=path, where=where)
    if not isinstance(ex.messages, list):
        raise InputError("the messages must be a list", path=path, where=where)
    for i, m in enumerate(ex.messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise InputError(
                f"message #{i} must be {{role, content}} with a role in {', '.join(ROLES)} and text content",
                path=path,
                where=where,
            )
    if not any(m["role"] == "user" for m in ex.messages):
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


def check_tools(tools: Any, *, path=None, where=None) -> set[str]:
    """The names of `tools` once each is a BFCL function doc the checker can use."""
    if not isinstance(tools, list):
        raise InputError("'function' must be a list of function docs", path=path, where=where)
    names = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise InputError(f"function #{i} needs a string 'name'", path=path, where=where)
        problem = _function_doc_problem(tool)
        if problem:
            raise InputError(f"function {tool['name']!r}: {problem}", path=path, where=where)
        names.add(tool["name"])
    return names


def _function_doc_problem(tool: dict) -> str | None:
    if not isinstance(tool.get("description"), str):
        return "needs a string 'description'"
    params = tool.get("parameters")
    if not isinstance(params, dict) or not isinstance(params.get("properties"), dict):
        return "needs 'parameters' with a 'properties' object"
    required = params.get("required")
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return "needs 'parameters.required', a list of parameter names"
    for pname, spec in params["properties"].items():
        problem = _type_problem(spec)
        if problem:
            return f"parameter {pname!r}: {problem}"
    return None


def _type_problem(spec: Any) -> str | None:
    if not isinstance(spec, dict) or spec.get("type") not in BFCL_TYPES:
        return f"needs a 'type', one of {', '.join(BFCL_TYPES)}"
    if spec["type"] in ("array", "tuple"):
        items = _type_problem(spec.get("items"))
        return f"'items' {items}" if items else None
    return None


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
    if not apath.exists() and not expects_no_call(category) and not is_relevance(category):
        raise InputError("possible-answer file missing", path=apath)
    return load_bfcl_files(qpath, apath if apath.exists() else None, category=category)


def load_bfcl_files(questions: str | Path, answers: str | Path | None = None, *, category: str | None = None) -> list[Example]:
    """BFCL-format question lines (`{"id", "question", "function"}`) joined with possible-answer
    lines (`{"id", "ground_truth"}`) by id: the installed BFCL data, or any set written in its
    format (`advfc attack` writes one). Each item's category is `category`, else its own
    `"category"` field, else read from a BFCL id; an item of a category that calls needs an answer."""
    qpath, apath = Path(questions), Path(answers) if answers is not None else None
    truth: dict[str, list] = {}
    if apath is not None:
        for lineno, rec in iter_jsonl(apath):
            if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or "ground_truth" not in rec:
                raise InputError("expected {'id': string, 'ground_truth'}", path=apath, where=lineno)
            truth[rec["id"]] = rec["ground_truth"]
    out = []
    for lineno, rec in iter_jsonl(qpath):
        if not isinstance(rec, dict):
            raise InputError("expected a JSON object", path=qpath, where=lineno)
        for key in ("id", "question", "function"):
            if key not in rec:
                raise InputError(f"missing {key!r}", path=qpath, where=lineno)
        if not isinstance(rec["id"], str):
            raise InputError("'id' must be a string", path=qpath, where=lineno)
        turns = rec["question"]
        if not isinstance(turns, list) or not turns or not isinstance(turns[0], list):
            raise InputError("'question' must be a list of turns (lists of messages)", path=qpath, where=lineno)
        try:
            cat = check_category(category or rec.get("category") or category_of_id(rec["id"]))
        except InputError as e:
            raise InputError(f"{e.message} (give the item a 'category' field)", path=qpath, where=lineno) from None
        if rec["id"] not in truth and (apath is not None and truth or not (expects_no_call(cat) or is_relevance(cat))):
            raise InputError(f"no possible answer for id {rec['id']}", path=apath or qpath, where=None if apath else lineno)
        ex = Example(id=rec["id"], category=cat, tools=rec["function"], messages=turns[0], answers=truth.get(rec["id"], []))
        out.append(validate_example(ex, path=qpath))
    if not out:
        raise InputError("no records", path=qpath)
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
    check_tools(tools, path=path, where=where)
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
    return parse_json(value, path=path, where=where, what=what) if isinstance(value, str) else value


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


def _xlam_tool_problem(tool: Any) -> str | None:
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        return "must be {name, description, parameters} with a string name"
    params = tool.get("parameters") or {}
    if not isinstance(params, dict):
        return f"'parameters' of {tool['name']!r} must map parameter names to {{type, description}}"
    for pname, spec in params.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("type", "any"), str):
            return f"parameter {pname!r} of {tool['name']!r} must be {{type, description}} with a string type"
    return None


def xlam_record_to_example(rec: dict, *, path=None, where=None, id_prefix: str = "xlam") -> Example:
    if not isinstance(rec, dict):
        raise InputError("expected a JSON object", path=path, where=where)
    for key in ("query", "tools", "answers"):
        if key not in rec:
            raise InputError(f"xLAM record needs {key!r}", path=path, where=where)
    if not isinstance(rec["query"], str):
        raise InputError("'query' must be a string", path=path, where=where)
    tools_raw = _json_field(rec["tools"], "'tools'", path, where)
    answers_raw = _json_field(rec["answers"], "'answers'", path, where)
    if not isinstance(tools_raw, list):
        raise InputError("'tools' must be a list of {name, description, parameters}", path=path, where=where)
    for i, tool in enumerate(tools_raw):
        problem = _xlam_tool_problem(tool)
        if problem:
            raise InputError(f"tools[{i}] {problem}", path=path, where=where)
    if not isinstance(answers_raw, list) or not all(isinstance(a, dict) and isinstance(a.get("name"), str) for a in answers_raw):
        raise InputError("'answers' must be a list of {name, arguments}", path=path, where=where)
    tools = [xlam_tool_to_bfcl(t) for t in tools_raw]
    calls = [(a["name"], _json_field(a.get("arguments") or {}, "answer arguments", path, where)) for a in answers_raw]
    gold = _gold_from_calls(calls, tools, path, where)
    ex = Example(
        id=f"{id_prefix}_{rec.get('id', where)}",
        category=category_for_calls(len(calls), len(tools)),
        tools=tools,
        messages=[{"role": "user", "content": rec["query"]}],
        answers=gold,
        source="xlam",
    )
    return validate_example(ex, path=path)


def load_xlam(source: str | Path, *, limit: int | None = None) -> list[Example]:
    """xLAM-60k from a local .json/.jsonl file, or by hub dataset name through `datasets`."""
    path = Path(source)
    if path.exists():
        text = read_text(path)
        if text.lstrip().startswith("["):
            records = parse_json(text, path=path)
            if not isinstance(records, list):
                raise InputError("expected a JSON array of records", path=path)
            rows = [(f"record {n}", rec) for n, rec in enumerate(records, 1)]
        else:
            rows = list(iter_jsonl(path))
        out = [xlam_record_to_example(rec, path=path, where=n) for n, rec in rows[:limit]]
        if not out:
            raise InputError("no xLAM records", path=path)
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
_OPENAI_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}


def _schema_to_bfcl(schema: Any, where: str) -> dict:
    """A JSON-schema property as a BFCL one; a malformed schema is a ValueError naming `where`."""
    if not isinstance(schema, dict):
        raise ValueError(f"{where} must be a JSON schema object")
    t = schema.get("type", "any")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "any")
    out: dict[str, Any] = {"type": _JSON_SCHEMA_TYPES.get(t, "any") if isinstance(t, str) else "any",
                           "description": str(schema.get("description", ""))}
    for key in ("enum", "default"):
        if key in schema:
            out[key] = schema[key]
    if out["type"] == "array":
        out["items"] = _schema_to_bfcl(schema.get("items") or {}, f"{where}.items")
    if out["type"] == "dict" and "properties" in schema:
        out["properties"] = _properties(schema["properties"], where)
    return out


def _properties(props: Any, where: str) -> dict:
    if not isinstance(props, dict):
        raise ValueError(f"{where}.properties must be an object")
    return {k: _schema_to_bfcl(v, f"{where}.properties.{k}") for k, v in props.items()}


def openai_tool_to_bfcl(tool: dict) -> dict:
    fn = tool.get("function", tool)
    params = fn.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(params, dict):
        raise ValueError(f"the parameters of {fn['name']!r} must be a JSON schema object")
    required = params.get("required") or []
    if not isinstance(required, list):
        raise ValueError(f"the required list of {fn['name']!r} must be a list")
    return {
        "name": fn["name"],
        "description": str(fn.get("description", "")),
        "parameters": {
            "type": "dict",
            "properties": _properties(params.get("properties") or {}, f"{fn['name']}.parameters"),
            "required": required,
        },
    }


def _openai_text(content: Any) -> str:
    """A message's content as text: a string, null, or a list of text parts (OpenAI's format)."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ValueError(f"content part of type {kind!r:.40} is not supported (text parts only)")
        return "".join(texts)
    raise ValueError("content must be a string, null or a list of text parts")


def openai_record_to_example(rec: dict, *, path=None, where=None, id_prefix: str = "openai") -> Example:
    if not isinstance(rec, dict):
        raise InputError("expected a JSON object", path=path, where=where)
    messages = rec.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise InputError("record needs a non-empty 'messages' list of objects", path=path, where=where)
    if not isinstance(rec.get("tools"), list):
        raise InputError("record needs a 'tools' list", path=path, where=where)
    for i, t in enumerate(rec["tools"]):
        fn = t.get("function", t) if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InputError(f"tools[{i}] needs a 'function' with a string 'name'", path=path, where=where)
    last = messages[-1]
    if last.get("role") != "assistant":
        raise InputError("the last message must be the assistant's answer (tool_calls or text)", path=path, where=where)
    tool_calls = last.get("tool_calls") or []
    if not isinstance(tool_calls, list):
        raise InputError("'tool_calls' must be a list", path=path, where=where)
    calls = []
    for call in tool_calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InputError("each tool_call needs function.name", path=path, where=where)
        calls.append((fn["name"], _json_field(fn.get("arguments") or {}, "tool_call arguments", path, where)))
    try:
        tools = [openai_tool_to_bfcl(t) for t in rec["tools"]]
        prompt = []
        for i, m in enumerate(messages[:-1]):
            role = m.get("role")
            if not isinstance(role, str) or role not in _OPENAI_ROLES:
                raise ValueError(f"messages[{i}] has role {role!r:.40}; expected one of {', '.join(_OPENAI_ROLES)}")
            prompt.append({"role": _OPENAI_ROLES[role], "content": _openai_text(m.get("content"))})
    except ValueError as e:
        raise InputError(str(e), path=path, where=where) from None
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
        out.append(openai_record_to_example(rec, path=path, where=lineno, id_prefix=Path(path).stem))
    if not out:
        raise InputError("no records", path=path)
    return out


def load_examples_jsonl(path: str | Path) -> list[Example]:
    """advfc's own export format (one `Example.to_dict()` per line)."""
    out = [example_from_record(rec, path=path, where=lineno) for lineno, rec in iter_jsonl(path)]
    if not out:
        raise InputError("no records", path=path)
    return out
