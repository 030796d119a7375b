"""Judge many raw outputs per BFCL entry with the official bfcl-eval pipeline -> tests/golden/.

Run with the interpreter that has the full official package (`make golden` builds it as
.oracle-venv). For every entry of each single-turn Python category it writes raw outputs built
deterministically from the entry (the right call, each acceptable alternative, near misses of every
kind, other formats, prose) and the verdict `eval_runner` gives them: `default_decode_ast_prompting`
through `_evaluate_single_ast_entry` / `_evaluate_single_relevance_entry`, with the prompt and
ground-truth entries `evaluate_task` loads. Where the official code raises (which would abort its
run), the case records `checker_error:<exception>`. advfc's checker must match every case
(tests/test_checker_differential.py). Never put an output with side effects here: the official
decoder eval()s binary operations, so only arithmetic on numeric literals appears in operators.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import random
import zlib
from collections import Counter
from importlib.metadata import version
from pathlib import Path

from bfcl_eval.constants.enums import Language, ReturnFormat
from bfcl_eval.eval_checker.eval_runner import _evaluate_single_ast_entry, _evaluate_single_relevance_entry
from bfcl_eval.model_handler.utils import default_decode_ast_prompting
from bfcl_eval.utils import load_dataset_entry, load_ground_truth_entry

CATEGORIES = (
    "simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance", "live_relevance",
)
# A prompt-mode model whose config has underscore_to_dot False, spelled as eval_runner passes it.
MODEL_NAME = "Qwen_Qwen3-0.6B"
MAX_PARAM_CASES = 80
MISSING = object()


class PromptHandler:
    """What every prompt-mode (OSS) handler's decode_ast does."""

    def decode_ast(self, result, language=ReturnFormat.PYTHON, has_tool_call_tag=False):
        return default_decode_ast_prompting(result, language, has_tool_call_tag)


def judge(handler, category: str, raw: str, entry: dict, ground_truth) -> tuple[bool, str | None]:
    try:
        if "relevance" in category:
            out = _evaluate_single_relevance_entry(handler, entry["id"], raw, entry, MODEL_NAME, category)
        else:
            out = _evaluate_single_ast_entry(
                handler, entry["id"], raw, ground_truth, entry, MODEL_NAME, category,
                language=Language.PYTHON, return_format=ReturnFormat.PYTHON,
            )
    except Exception as e:
        return False, f"checker_error:{type(e).__name__}"
    return bool(out["valid"]), out.get("error_type")


# ----------------------------------------------------------------------------- rendering


def call_text(name: str, args: dict) -> str:
    return f"{name}({kwargs_text(args)})"


def kwargs_text(args: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


def kwargs_with(args: dict, p: str, text: str) -> str:
    """The arguments with `p` spelled as source text."""
    return ", ".join([f"{k}={v!r}" for k, v in args.items() if k != p] + [f"{p}={text}"])


def calls_text(calls: list[tuple[str, dict]]) -> str:
    return "[" + ", ".join(call_text(n, a) for n, a in calls) + "]"


def first(options):
    return next((o for o in options if o != ""), MISSING) if isinstance(options, list) else options


def concrete(value, schema: dict):
    """A possible-answer value as the call a model would write (dict answers list their options)."""
    t = schema.get("type")
    if t == "dict" and isinstance(value, dict):
        return {k: v for k, v in ((k, first(o)) for k, o in value.items()) if v is not MISSING}
    if t == "array" and schema.get("items", {}).get("type") == "dict" and isinstance(value, list):
        return [concrete(v, schema["items"]) for v in value]
    return value


def dummy(schema: dict):
    t = schema.get("type")
    return {
        "string": "zz", "integer": 1, "float": 1.5, "boolean": True, "dict": {}, "tuple": [], "any": "zz",
        "array": [dummy(schema["items"])] if isinstance(schema.get("items"), dict) else [],
    }.get(t, "zz")


# ----------------------------------------------------------------------------- value variants


def string_variants(v: str) -> list[str]:
    return [v.upper(), v.lower(), v.title(), v.swapcase(), v.replace(" ", ""), v.replace(" ", ", "),
           v.replace(" ", "-"), v.replace(" ", "_"), v + ".", " " + v + " ", "\t" + v, v.replace("'", '"'),
           v.replace('"', "'"), v + "'", v + "zz", "", v + "é", v[:-1], v + "*^/"]


def number_texts(v) -> list[str]:
    """Source spellings of a number (BinOps of literals, unary ops, bases, separators)."""
    if isinstance(v, bool):
        return ["not True", "not False", "~True", "True + 0", "True * 1"]
    out = []
    if isinstance(v, int):
        out += [f"{v - 1} + 1", f"{v} * 1", f"{v + 2} - 2", f"{v} // 1", f"{v} / 1", f"{v}.0", f"{v} ** 1",
                f"+{abs(v)}", f"~{abs(v)}", f"{v:_}", f"({v})", f"{2 * v} >> 1", f"{v} | 0", f"{v} % {abs(v) + 7}",
                f"True * {v}"]
        if v >= 0:
            out += [hex(v), oct(v), bin(v), f"-{v}", f"-(-{v})", f"not {v}"]
    elif isinstance(v, float):
        out += [f"{v * 2!r} / 2", f"{v!r} + 0", f"{v!r} * 1.0", f"+{abs(v)!r}", f"{v!r} - 0.1 + 0.1", f"{v!r} ** 1",
                f"-{abs(v)!r}"]
        e = f"{v:e}"
        if float(e) == v:
            out.append(e)
        if v == int(v):
            out += [str(int(v)), f"{int(v)} + 0", f"{int(v)} // 1"]
        out += [f"{v!r} // 1", f"{v!r} % 1", f"{v!r}j", f"{v!r} + 0j"]
    return out


def wrong_values(v, schema: dict) -> list:
    t = schema.get("type")
    if isinstance(v, bool):
        return [not v, "True" if v else "False", int(v), None]
    if isinstance(v, int):
        return [v + 1, str(v), float(v), float(v) + 0.5, True, [v], None]
    if isinstance(v, float):
        return [v + 0.5, str(v), int(v), True, [v], None]
    if isinstance(v, str):
        return [v + "_zz", 7, [v], (v,), {"value": v}, None, True]
    if isinstance(v, list):
        extra = [v + v[:1], v[::-1], v[1:], (), tuple(v), str(v), [str(x) for x in v], [[x] for x in v[:2]]]
        if t == "array" and schema.get("items", {}).get("type") == "dict":
            extra += [[{**d, "zz_key": 1} for d in v if isinstance(d, dict)], [{} for _ in v], [1 for _ in v],
                      ["zz" for _ in v]]
        return extra
    if isinstance(v, dict):
        keys = list(v)
        return [
            {**v, "zz_key": 1}, {k: v[k] for k in keys[1:]},
            {k: (str(x) + "zz" if isinstance(x, str) else x) for k, x in v.items()},
            {k: (x.upper() if isinstance(x, str) else x) for k, x in v.items()}, str(v), [v], {}, (v,),
        ]
    return ["zz", 1]


def odd_value_texts(v) -> list[str]:
    """Argument spellings that exercise every branch of the decoder's value resolution."""
    out = ["zz_name", "str(5)", "zz(a=1)", "zz(1, b=2)", "math.pi", "zz[0]", "zz[1:2]", "zz[1, 2]", "zz['k']",
           "lambda: 1", "{1, 2}", "f'x{1}'", "1 < 2", "1 and 2", "...", "None", "(1,)", "()", "(1, 'a')",
           "{'a': 1}", "{**zz}", "{[1]: 2}", "[*zz]", "b'x'", "1j", "-zz", "-(1 + 2)", "--5", "-'a'", "not zz",
           "-None", "[1, [2, [3]]]", "{'a': [1, {'b': 2}]}", "{1: 'a', True: 'b'}", "0x10", "1e400", "-1e400",
           "1 / 0", "2 ** -1", "2 ** 0.5", "(-8) ** 0.5", "10 ** 20", "1 << 3", "5 & 3", "5 ^ 3", "7 % -3",
           "-7 // 2", "True + True", "~False", "+True", "'a' 'b'", "'''x'''", "r'\\n'", "'\\u00e9'", "x if y else z",
           "[i for i in x]", "await x", "(yield)", "(zz := 1)", "zz.a.b", "zz()", "zz()()", "2 @ 3", "1.5 | 2"]
    if isinstance(v, str) and v.isidentifier():
        out.append(v)  # an unquoted name decodes to the string itself
    if isinstance(v, str):
        out += [json.dumps(v, ensure_ascii=False), json.dumps(v), "'''" + v.replace("'", "\\'") + "'''"]
    return out


# ----------------------------------------------------------------------------- cases


def ast_cases(entry: dict, ground_truth: list, rng: random.Random) -> list[str]:
    tools = {t["name"]: t for t in reversed(entry["function"])}
    gold: list[tuple[str, dict]] = []
    for answer in ground_truth:
        (name, params), = answer.items()
        props = tools[name]["parameters"]["properties"]
        args = {}
        for p, options in params.items():
            v = first(options)
            if v is not MISSING:
                args[p] = concrete(v, props.get(p, {}))
        gold.append((name, args))
    right = calls_text(gold)
    lines = [call_text(n, a) for n, a in gold]
    cases = [
        right, right[1:-1], "```\n" + right + "\n```", "```python\n" + right + "\n```", "```json\n" + right + "\n```",
        "  " + right + "  ", "\n" + right + "\n", "\t" + right, right + "\r\n", "'" + right + "'", '"' + right + '"',
        right + " Hope this helps!", "Sure! " + right, "<think>ok</think>\n" + right, "<TOOLCALL>" + right + "</TOOLCALL>",
        "[" + right + "]", right + ", " + right, right[:-1] + ",]", "[\n" + ",\n".join(lines) + "\n]", "; ".join(lines),
        "\n".join(lines), json.dumps([{"name": n, "arguments": a} for n, a in gold]),
        json.dumps({"name": gold[0][0], "arguments": gold[0][1]}), "print(" + lines[0] + ")", "result = " + lines[0],
        right[:-2], right + ")", "", "[]", "[ ]", "None", "[None]", "[1]", "I cannot help with that.", "`" + right + "`",
        right.replace("(", " (", 1), calls_text(gold + gold[:1]), calls_text(gold[:-1]), calls_text(gold[::-1]),
        calls_text(gold[1:] + gold[:1]), calls_text([(n, {}) for n, _ in gold]),
        calls_text(gold + [(n, {}) for n in list(tools)[:1]]),
    ]
    for other in tools:
        if other not in {n for n, _ in gold}:
            cases.append(calls_text([(other, gold[0][1])] + gold[1:]))
            break
    param_cases: list[str] = []
    for ci in sorted({0, len(gold) - 1}):
        param_cases += call_variants(gold, ci, tools, ground_truth[ci])
    rng.shuffle(param_cases)
    return cases + extreme_cases(gold, tools) + param_cases[:MAX_PARAM_CASES]


def extreme_cases(gold, tools: dict) -> list[str]:
    """The first call's first six parameters given values where bfcl-eval raises or nearly does (a
    float from an int too large for one, an int too long to print, one just short of that) and
    containers of every shape, whatever the parameter's type."""
    name, args = gold[0]
    out = []
    rest = "".join(", " + call_text(n, a) for n, a in gold[1:])
    for p in list(tools[name]["parameters"]["properties"])[:6]:
        for text in ("10 ** 400", "0x" + "f" * 3700, "10 ** 4000", "[1]", "[{}]", "['zz']", "{}", "{'zz': 1}"):
            out.append(f"[{name}({kwargs_with(args, p, text)}){rest}]")
    return out


def call_variants(gold, ci: int, tools: dict, answer: dict) -> list[str]:
    name, args = gold[ci]
    (_, accepted), = answer.items()
    tool = tools[name]
    props = tool["parameters"]["properties"]
    required = tool["parameters"].get("required", [])

    def with_call(new_name, new_args=None, text=None) -> str:
        calls = [call_text(n, a) for n, a in gold]
        calls[ci] = text if text is not None else call_text(new_name, args if new_args is None else new_args)
        return "[" + ", ".join(calls) + "]"

    def with_arg(p, text: str) -> str:
        return with_call(None, text=f"{name}({kwargs_with(args, p, text)})")

    out = [with_call(name + "_x"), with_call(name.upper()), with_call("functions." + name), with_call("zz()." + name),
           with_call("'s'." + name), with_call("zz[0]." + name), with_call(None, text=f"{name}()({kwargs_text(args)})"),
           with_call(name.replace(".", "_") if "." in name else name.replace("_", ".", 1)),
           with_call(name, {**args, "zz_extra": 1}), with_call(name, {}),
           with_call(None, text=f"{name}(**{args!r})"), with_call(None, text=f"{name}(zz, {kwargs_text(args)})"),
           with_call(None, text=f"{name}({', '.join(map(repr, args.values()))})")]
    if args:
        p0 = next(iter(args))
        out += [with_call(None, text=f"{name}({kwargs_text(args)}, **zz)"),
                with_call(None, text=f"{name}({p0}='zz', {kwargs_text(args)})"),
                with_call(None, text=f"{name}({kwargs_text(args)}, {p0}='zz')"),
                with_call(name, dict(reversed(list(args.items()))))]
        out += [with_arg(p0, text) for text in odd_value_texts(args[p0])]
    for p in required:
        if p in args:
            out.append(with_call(name, {k: v for k, v in args.items() if k != p}))
    for p, options in accepted.items():
        schema = props.get(p, {})
        if p in args:
            for alt in [o for o in options if o != ""][1:4]:
                out.append(with_call(name, {**args, p: concrete(alt, schema)}))
            if "" in options:
                out.append(with_call(name, {k: v for k, v in args.items() if k != p}))
            v = args[p]
            for w in wrong_values(v, schema):
                out.append(with_call(name, {**args, p: w}))
            if isinstance(v, str):
                out += [with_call(name, {**args, p: s}) for s in string_variants(v)]
            if isinstance(v, (int, float)):
                out += [with_arg(p, text) for text in number_texts(v)]
            if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
                out += [with_call(name, {**args, p: [x.upper() for x in v]}),
                        with_call(name, {**args, p: [x.replace(" ", "") for x in v]})]
            if isinstance(v, dict) and v:
                k0 = next(iter(v))
                out += [with_call(name, {**args, p: {**v, k0: w}}) for w in wrong_values(v[k0], {})[:3]]
                dict_opts = [o for o in options if isinstance(o, dict)]
                for dk, dopts in (dict_opts[0].items() if dict_opts else []):
                    for alt in [o for o in dopts if o != ""][1:3]:
                        out.append(with_call(name, {**args, p: {**v, dk: alt}}))
                    if "" in dopts and dk in v:
                        out.append(with_call(name, {**args, p: {k: x for k, x in v.items() if k != dk}}))
        else:
            out.append(with_call(name, {**args, p: dummy(schema)}))
            if "default" in schema:
                out.append(with_call(name, {**args, p: schema["default"]}))
    for p, schema in props.items():
        if p not in accepted:
            out.append(with_call(name, {**args, p: schema.get("default", dummy(schema))}))
    return out


def no_call_cases(entry: dict, rng: random.Random) -> list[str]:
    cases = [
        "", "[]", "[ ]", "None", "I cannot help with that.", "None of the functions can be used here.",
        "The provided functions lack the required parameters (e.g. a date).", "```\n[]\n```", "[None]", "[1, 2]",
        "[zz]", "zz", "[zz(a=1)]", "zz(a=1)", "[zz(a=2 + 3, b=-1.5, c=+2, d=not True)]", "[zz()]", "print('hi')",
        "[[zz()]]", "{'name': 'zz'}", "[zz(a=1)] thanks", "<TOOLCALL>[zz(a=1)]</TOOLCALL>", "```python\n[zz(a=1)]\n```",
    ]
    for tool in entry["function"][:3]:
        name = tool["name"]
        props = tool["parameters"]["properties"]
        args = {p: dummy(props.get(p, {})) for p in tool["parameters"].get("required", [])}
        call = call_text(name, args)
        cases += ["[" + call + "]", call, "```\n[" + call + "]\n```", "```python\n" + call + "\n```", call[:-1],
                  "[" + call + ", " + call + "]", f"[{name}()]", f"{name}",
                  json.dumps([{"name": name, "arguments": args}]), f"I would call {call} but it does not fit.",
                  f"[{name}(**{{}})]", f"[{name}(1, 2)]"]
    rng.shuffle(cases)
    return cases


# ----------------------------------------------------------------------------- synthetic items


def tool(name: str, props: dict, required=None) -> dict:
    params = {"type": "dict", "properties": props}
    if required is not None:
        params["required"] = required
    return {"name": name, "description": "", "parameters": params}


def item(category: str, tools: list, answers: list, raws: list[str]) -> tuple[dict, list[str]]:
    messages = [{"role": "user", "content": "q"}]
    return {"category": category, "tools": tools, "messages": messages, "answers": answers}, raws


INT, STR, FLOAT, BOOL = ({"type": t} for t in ("integer", "string", "float", "boolean"))
F = tool("f", {"a": INT, "s": STR}, ["a"])
G = tool("g", {"b": FLOAT}, ["b"])
# Quirks the BFCL items do not reach, and advfc's own categories (xLAM / OpenAI data).
SYNTHETIC = [
    item("simple", [tool("f", {"d": {"type": "dict"}}, [])], [{"f": {"d": [""]}}],
         ["[f()]", "[f(d={})]", "[f(d={'a': 1})]", "[f(d=None)]", "[f(d='x')]"]),
    item("simple", [tool("f", {"xs": {"type": "array", "items": {"type": "dict"}}}, [])],
         [{"f": {"xs": ["", [{"k": ["v"]}]]}}],
         ["[f(xs=[1])]", "[f(xs=['x'])]", "[f(xs=[{'k': 'v'}])]", "[f(xs=[{'k': 'V '}])]", "[f(xs=[])]", "[f(xs=[{}])]",
          "[f(xs=[{'k': 'v', 'j': 1}])]", "[f()]", "[f(xs=[{'k': 'v'}, {'k': 'v'}])]", "[f(xs=({'k': 'v'},))]"]),
    item("simple", [tool("f", {"x": {"type": "any"}}, ["x"])], [{"f": {"x": ["abc"]}}],
         ["[f(x='ABC')]", "[f(x=1)]", "[f(x=[1])]", "[f(x=abc)]", "[f(x=a.bc)]", "[f(x='a_b-c')]"]),
    item("simple", [tool("f", {"t": {"type": "tuple", "items": {"type": "integer"}}}, ["t"])], [{"f": {"t": [[1, 2]]}}],
         ["[f(t=(1, 2))]", "[f(t=[1, 2])]", "[f(t=(1, '2'))]", "[f(t=(2, 1))]", "[f(t=(1.0, 2))]", "[f(t='1, 2')]"]),
    item("simple", [tool("f", {"m": {"type": "array", "items": {"type": "array"}}}, ["m"])],
         [{"f": {"m": [[[1, 2], [3]]]}}],
         ["[f(m=[[1, 2], [3]])]", "[f(m=[(1, 2), [3]])]", "[f(m=[1, 2])]", "[f(m=[[1, 2], 3])]", "[f(m=[])]"]),
    item("simple", [tool("f", {"a": INT})], [{"f": {"a": [1]}}], ["[f(a=1)]", "[]", "[f(a=1), f(a=1)]"]),
    item("simple", [tool("f", {"a": INT}, ["a"])], [{"f": {"a": [300]}}],
         ["[f(a=" + "+".join(["1"] * 300) + ")]", "[f(a=" + "+".join(["1"] * 400) + ")]",
          "[f(a=1 + " + "-" * 300 + "299)]",
          "[f(a=1 + " + "-" * 400 + "299)]", "[f(a=" + "-" * 400 + "300)]"]),
    item("simple", [tool("f", {"x": {"type": "number"}}, ["x"])], [{"f": {"x": [1.5]}}], ["[f(x=1.5)]", "[f()]"]),
    item("simple", [tool("f", {"x": {"type": "array"}}, ["x"])], [{"f": {"x": [[1]]}}], ["[f(x=[1])]", "[f(x=1)]"]),
    item("simple", [tool("f", {"n": INT}, ["n"])], [{"f": {"n": ["num_var"]}}],
         ["[f(n=num_var)]", "[f(n=5)]", "[f(n='NUM_VAR')]", "[f(n='num_var')]", "[f(n=[1])]"]),
    item("simple", [tool("f", {"x": {"type": "array", "items": INT}}, [])], [{"f": {"x": [[1, 2]]}}],
         ["[f(x=['1', 2])]", "[f(x=[1, 2])]", "[f(x=[True, 2])]", "[f(x=(1, 2))]", "[f(x=[1.0, 2])]"]),
    item("simple", [tool("f", {"x": {"type": "array", "items": STR}}, [])], [{"f": {"x": [""]}}],
         ["[f(x=['a'])]", "[f(x=[])]", "[f()]", "[f(x=[1])]", "[f(x=())]"]),
    item("simple", [tool("f", {"i": INT, "b": BOOL, "x": FLOAT}, [])],
         [{"f": {"i": [1, ""], "b": [True, ""], "x": [1.0, ""]}}],
         ["[f(i=True)]", "[f(b=1)]", "[f(x=1)]", "[f(x=True)]", "[f(i=1.0)]", "[f(b=not False)]", "[f(x=2 - 1)]",
          "[f(i=+1)]"]),
    item("simple", [tool("f", {"d": {"type": "dict"}}, ["d"])], [{"f": {"d": [{"a": ["x"]}, {"b": [1]}]}}],
         ["[f(d={'a': 'X'})]", "[f(d={'b': 1})]", "[f(d={'a': 'x', 'b': 1})]", "[f(d={})]", "[f(d={'b': True})]"]),
    item("simple", [tool("f", {"d": {"type": "dict"}}, ["d"])], [{"f": {"d": [{"a": ["x"], "b": [1]}]}}],
         ["[f(d={'a': 'y'})]", "[f(d={'a': 'x'})]", "[f(d={'b': 1, 'a': 'x '})]", "[f(d={'a': 'x', 'b': 2})]"]),
    item("simple", [tool("f", {"d": {"type": "dict"}}, ["d"])], [{"f": {"d": [{"a": ["x", ""], "b": [[1, 2]]}]}}],
         ["[f(d={'b': [1, 2]})]", "[f(d={'b': (1, 2)})]", "[f(d={'a': 'X', 'b': [1, 2]})]", "[f(d={'b': [2, 1]})]"]),
    item("simple", [G, F], [{"f": {"a": [1]}}], ["[f(a=1)]", "[g(b=1.0)]"]),
    item("simple", [tool("a.b", {"x": INT}, ["x"])], [{"a.b": {"x": [1]}}],
         ["[a.b(x=1)]", "[a_b(x=1)]", "['s'.a.b(x=1)]"]),
    item("simple", [tool("f", {"s": STR}, ["s"])], [{"f": {"s": ["it's", "İstanbul"]}}],
         ["[f(s='it\"s')]", "[f(s=\"IT'S\")]", "[f(s='i̇stanbul')]", "[f(s='istanbul')]", "[f(s='İSTANBUL')]"]),
    item("multiple", [F, G], [{"g": {"b": [2.5]}}], ["[g(b=2.5)]", "[f(a=1)]", "[g(b=2.5), f(a=1)]", "[]"]),
    item("multiple", [F, G], [], ["[]", "[g(b=2.5)]"]),
    item("multiple", [F], [{"h": {"x": [1]}}], ["[h(x=1)]"]),
    item("parallel", [F], [{"f": {"a": [1, 2]}}, {"f": {"a": [1]}}],
         ["[f(a=1), f(a=2)]", "[f(a=2), f(a=1)]", "[f(a=1)]"]),
    item("parallel_multiple", [F, G], [{"f": {"a": [1], "s": ["x", ""]}}, {"g": {"b": [0.5]}}],
         ["[g(b=0.5), f(a=1)]", "[f(a=1, s='X'), g(b=1/2)]", "[f(a=1), f(a=1)]", "[g(b=0.5), f(a=1), g(b=0.5)]"]),
    item("parallel", [F, F], [], ["[]", "[f(a=1)]"]),
    item("irrelevance", [F], [], ["", "[]", "f(a=1)", "[f(a=1)", "I can't.", "[f()]", "[f(a=1), g()]", "()", "[{}]"]),
    item("relevance", [F], [], ["", "[]", "f(a=1)", "[f(a=1)", "[f()]", "()"]),
]


def synthetic_rows(handler) -> list[dict]:
    rows = []
    for n, (example, raws) in enumerate(SYNTHETIC):
        example = {"id": f"synthetic_{n}", **example}
        entry = {"id": example["id"], "question": [example["messages"]], "function": example["tools"]}
        for raw in raws:
            valid, error_type = judge(handler, example["category"], raw, entry, example["answers"])
            rows.append({"example": example, "raw": raw, "valid": valid, "error_type": error_type})
    return rows


# ----------------------------------------------------------------------------- main


def write_rows(path: Path, rows: list[dict]) -> None:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/golden")
    ap.add_argument("--categories", default=",".join(CATEGORIES))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    handler = PromptHandler()
    manifest_path = out / "checker_manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"categories": {}}
    manifest.update({
        "oracle": f"bfcl-eval=={version('bfcl-eval')}",
        "python": platform.python_version(),
        "model_name": MODEL_NAME,
        "pipeline": "default_decode_ast_prompting + eval_runner._evaluate_single_ast_entry"
                    " / _evaluate_single_relevance_entry",
        "generator": "scripts/make_golden.py",
    })
    for category in args.categories.split(","):
        entries = load_dataset_entry(category, include_prereq=False, include_language_specific_hint=False)
        truth = {}
        if "relevance" not in category:
            truth = {e["id"]: e["ground_truth"] for e in load_ground_truth_entry(category)}
        rows, verdicts = [], Counter()
        for entry in entries:
            rng = random.Random(zlib.crc32(entry["id"].encode()))
            raws = no_call_cases(entry, rng) if "relevance" in category else ast_cases(entry, truth[entry["id"]], rng)
            for raw in dict.fromkeys(raws):
                valid, error_type = judge(handler, category, raw, entry, truth.get(entry["id"]))
                rows.append({"id": entry["id"], "raw": raw, "valid": valid, "error_type": error_type})
                verdicts[error_type or "valid"] += 1
        write_rows(out / f"{category}.jsonl.gz", rows)
        manifest["categories"][category] = {
            "entries": len(entries), "cases": len(rows), "verdicts": dict(verdicts.most_common())
        }
        print(f"{category}: {len(entries)} entries, {len(rows)} cases, {verdicts['valid']} valid", flush=True)
    manifest["categories"] = dict(sorted(manifest["categories"].items(), key=lambda kv: CATEGORIES.index(kv[0])))
    rows = synthetic_rows(handler)
    write_rows(out / "synthetic.jsonl.gz", rows)
    verdicts = Counter(r["error_type"] or "valid" for r in rows)
    manifest["synthetic"] = {"items": len(SYNTHETIC), "cases": len(rows), "verdicts": dict(verdicts.most_common())}
    print(f"synthetic: {len(SYNTHETIC)} items, {len(rows)} cases", flush=True)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
