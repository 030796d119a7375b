"""BFCL's single-turn verdicts (prompt mode, Python), reproduced without running model output.

`check(raw, example)` gives the verdict and `error_type` that bfcl-eval's `eval_runner` gives for
the same raw text: the prompt-mode decoder (`default_decode_ast_prompting` + `ast_parse`), the
format check, then `ast_checker` or the relevance rule. The official decoder `eval()`s every binary
operation it meets; here only arithmetic on numeric literals is folded, under size bounds, and
anything else inside an operator is a decoding failure. `docs/scoring.md` lists every place where
the verdict differs from the official one, and the golden files in `tests/golden` (judged by the
official package) pin the rest case for case.

Nothing here is reward-specific (partial credit and the strict abstention test live in
`rewards.py`). Standard library only: this runs in the reward hot path and in CI without bfcl-eval.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass

from .data import Example, is_irrelevance, is_relevance


class DecodeError(Exception):
    """The raw output is not a Python call list (BFCL: `ast_decoder:decoder_failed`)."""


@dataclass(frozen=True)
class Verdict:
    correct: bool
    error_type: str | None
    error: str = ""
    decoded: list | None = None


# ----------------------------------------------------------------------------- decoding

_NUMBER = (int, float, complex, bool)
# Python refuses to print ints beyond 4,300 digits, so the official decoder (which unparses and
# re-evaluates every operation) cannot use them either; advfc also refuses to build them.
_INT_LIMIT = 10**4300
_INT_BITS = _INT_LIMIT.bit_length()
# The official decoder hits Python's recursion limit when it unparses operators nested deeper than
# this (called from a shallow stack); a fixed bound gives the same verdict from any stack depth.
_MAX_DEPTH = 327
_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
    ast.BitAnd: operator.and_,
}
_UNARYOPS = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert, ast.Not: operator.not_}


def decode(raw: str) -> list[dict]:
    """BFCL prompt-mode decoding: `[f(a=1), g(b='x')]` -> `[{'f': {'a': 1}}, {'g': {'b': 'x'}}]`."""
    if not isinstance(raw, str):
        raise DecodeError(f"expected text, got {type(raw).__name__}")
    text = raw.strip("`\n ")
    # The official ast_parse then strips whitespace and "'", a no-op once the text is wrapped.
    if not text.startswith("["):
        text = "[" + text
    if not text.endswith("]"):
        text = text + "]"
    try:
        body = ast.parse(text, mode="eval").body
        elts = [body] if isinstance(body, ast.Call) else getattr(body, "elts", None)
        if elts is None:
            raise DecodeError(f"expected a list of calls, got {type(body).__name__}")
        calls = []
        for elt in elts:
            if not isinstance(elt, ast.Call):
                raise DecodeError(f"expected a call, got {type(elt).__name__}")
            calls.append(_call(elt))
        return calls
    except DecodeError:
        raise
    except Exception as e:  # SyntaxError, RecursionError, MemoryError, unhashable keys, ...
        raise DecodeError(f"{type(e).__name__}: {str(e)[:200]}") from None


def _call(node: ast.Call) -> dict:
    """Positional arguments are dropped and `**kw` becomes a `None` key, as BFCL does."""
    parts = []
    func = node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return {".".join(reversed(parts)): {kw.arg: _value(kw.value) for kw in node.keywords}}


def _value(node):
    """`resolve_ast_by_type`, with the BinOp branch made safe."""
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp):
        # BFCL negates the operand's literal whatever the operator is: `+5` -> -5, `not True` -> -1.
        if isinstance(node.operand, ast.Constant) and type(node.operand.value) in _NUMBER:
            return -node.operand.value
        raise DecodeError("unary operator on something other than a number")
    if isinstance(node, ast.List):
        return [_value(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {_value(k): _value(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.BinOp):
        return _arith(node)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return _call(node) if node.keywords else ast.unparse(node)
    if isinstance(node, ast.Tuple):
        return tuple(_value(e) for e in node.elts)
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value) + "[" + ast.unparse(node.slice) + "]"
    raise DecodeError(f"unsupported value: {type(node).__name__}")


def _arith(node, depth: int = 1):
    """Python's own arithmetic on numeric literals; never builds an int Python could not print."""
    if isinstance(node, ast.Constant) and type(node.value) in _NUMBER:
        return _bounded(node.value)
    if depth > _MAX_DEPTH:
        raise DecodeError("operators nested too deeply")
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARYOPS:
        return _bounded(_UNARYOPS[type(node.op)](_arith(node.operand, depth + 1)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _arith(node.left, depth + 1), _arith(node.right, depth + 1)
        if isinstance(left, int) and isinstance(right, int):
            if isinstance(node.op, ast.Pow) and right * (abs(left).bit_length() - 1) > _INT_BITS:
                raise DecodeError("power too large to evaluate")
            if isinstance(node.op, ast.LShift) and left and right > _INT_BITS:
                raise DecodeError("shift too large to evaluate")
        return _bounded(_BINOPS[type(node.op)](left, right))
    raise DecodeError("only arithmetic on numeric literals is evaluated")


def _bounded(x):
    if isinstance(x, int) and not -_INT_LIMIT < x < _INT_LIMIT:
        raise DecodeError("integer too large")
    return x


def is_call_list(decoded) -> bool:
    """BFCL's `is_function_calling_format_output`: `[{name: {param: value}}, ...]`."""
    return type(decoded) is list and all(
        type(item) is dict and len(item) == 1 and type(next(iter(item.values()))) is dict for item in decoded
    )


def is_empty_output(decoded) -> bool:
    return not is_call_list(decoded) or len(decoded) == 0 or (len(decoded) == 1 and len(decoded[0]) == 0)


# ----------------------------------------------------------------------------- verdicts


def check(raw: str, example: Example) -> Verdict:
    """BFCL's verdict for one raw output, dispatched on the category as `eval_runner` does."""
    try:
        calls, decode_error = decode(raw), None
    except DecodeError as e:
        calls, decode_error = None, e
    category = example.category
    if is_irrelevance(category):
        if calls is None or is_empty_output(calls):
            return Verdict(True, None, decoded=calls)
        message = "Valid syntax. Successfully decode AST when it should not."
        return Verdict(False, "irrelevance_error:decoder_success", message, calls)
    if is_relevance(category):
        if calls is not None and not is_empty_output(calls):
            return Verdict(True, None, decoded=calls)
        message = f"Invalid syntax. Failed to decode AST when it should have. {decode_error or ''}"
        return Verdict(False, "relevance_error:decoder_failed", message, calls)
    if calls is None:
        return Verdict(False, "ast_decoder:decoder_failed", f"Invalid syntax. Failed to decode AST. {decode_error}")
    if not is_call_list(calls):
        message = "Did not output in the specified format."
        return Verdict(False, "ast_decoder:decoder_wrong_output_format", message, calls)
    try:
        failure = _ast_check(example.tools, calls, example.answers, category)
    except Exception as e:  # where bfcl-eval raises and aborts the whole run; see docs/scoring.md
        return Verdict(False, f"checker_error:{type(e).__name__}", _safe_str(e), calls)
    if failure:
        return Verdict(False, failure[0], failure[1], calls)
    return Verdict(True, None, decoded=calls)


def _safe_str(e: Exception) -> str:
    try:
        return str(e)[:500]
    except Exception:
        return type(e).__name__


# Every checker below mirrors its namesake in bfcl-eval's ast_checker.py (Python branch) and
# returns None when valid, else (error_type, message).

_PY_TYPES = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}
_NESTED = ("array", "tuple")
_STRIP = str.maketrans("", "", " ,./-_*^")


def _ast_check(tools, calls, answers, category):
    if "parallel" in category:
        return _parallel_no_order(tools, calls, answers)
    if "multiple" in category:
        if len(calls) != len(answers):
            return "multiple_function_checker:wrong_count", "Wrong number of functions."
        return _function(_find_tool(tools, next(iter(answers[0]))), calls[0], answers[0])
    if len(calls) != 1:
        return "simple_function_checker:wrong_count", "Wrong number of functions."
    return _function(tools[0], calls[0], answers[0])


def _find_tool(tools, name):
    if type(tools) is not list:
        return tools
    return next((t for t in tools if t["name"] == name), None)


def _parallel_no_order(tools, calls, answers):
    if len(calls) != len(answers):
        return "parallel_function_checker_no_order:wrong_count", "Wrong number of functions."
    matched: list[int] = []
    for i, answer in enumerate(answers):
        tool = _find_tool(tools, next(iter(answer)))
        failure = None
        for index in range(len(calls)):
            if index in matched:
                continue
            failure = _function(tool, calls[index], answer)
            if failure is None:
                matched.append(index)
                break
        if failure is not None:
            unmatched = [j for j in range(len(calls)) if j not in matched]
            return (
                "parallel_function_checker_no_order:cannot_find_match",
                f"Could not find a matching function among index {unmatched} of model output "
                f"for index {i} of possible answers.",
            )
    return None


def _function(tool, call, answer):
    """simple_function_checker."""
    answer = next(iter(answer.values()))
    name = tool["name"]
    props = tool["parameters"]["properties"]
    required = tool["parameters"]["required"]
    if name not in call:
        return "simple_function_checker:wrong_func_name", f"Function name {name!r} not found in model output."
    args = call[name]
    for param in required:
        if param not in args:
            return "simple_function_checker:missing_required", f"Missing required parameter: {param!r}."
    for param, value in args.items():
        failure = check_param(param, value, props, answer)
        if failure:
            return failure
    for param in answer:
        if param not in args and "" not in answer[param]:
            return (
                "simple_function_checker:missing_optional",
                f"Optional parameter {param!r} not provided and not marked as optional.",
            )
    return None


def check_param(param, value, props, answer):
    """The per-parameter part of simple_function_checker: type, then value."""
    if param not in props or param not in answer:
        return "simple_function_checker:unexpected_param", f"Unexpected parameter: {param!r}."
    type_name = props[param]["type"]
    expected = _PY_TYPES[type_name]
    nested = _PY_TYPES[props[param]["items"]["type"]] if type_name in _NESTED else None
    if type_name == "tuple" and type(value) is tuple:
        value = list(value)
    if type_name == "float" and type(value) is int:
        value = float(value)
    accepted = answer[param]
    failure, is_variable = _type(param, value, accepted, type_name, expected, nested)
    if failure:
        return failure
    if not is_variable:
        if expected is dict:
            return _dict(param, value, accepted)
        if expected is list and nested is dict:
            return _list_dict(param, value, accepted)
        if expected is str:
            return _string(param, value, accepted)
        if expected is list:
            return _list(param, value, accepted)
    if value not in accepted:
        return "value_error:others", f"Invalid value for parameter {param!r}: {value!r}. Expected one of {accepted}."
    return None


def _answer_type(accepted):
    for answer in accepted:
        if answer != "":
            return type(answer)
    return None


def _type(param, value, accepted, type_name, expected, nested):
    """type_checker -> (failure, is_variable). A value of the answers' own type counts as a
    variable name; a failed nested check stays failed even then, as in bfcl-eval."""
    answer_type = _answer_type(accepted)
    is_variable = answer_type is not None and answer_type != expected
    failure = None
    if type(value) == expected:
        if nested is None:
            return None, is_variable
        for item in accepted:
            if type(item) != list or all(_item_type_ok(v, item, nested) for v in value):
                return None, is_variable
        failure = (
            "type_error:nested",
            f"Nested type checking failed for parameter {param!r}. Expected outer type {type_name} with inner type "
            f"{nested}. Parameter value: {value!r}.",
        )
    if answer_type is not None and type(value) == answer_type:
        return failure, True
    return (
        "type_error:simple",
        f"Incorrect type for parameter {param!r}. Expected type {type_name}, got {type(value).__name__}. "
        f"Parameter value: {value!r}.",
    ), is_variable


def _item_type_ok(value, accepted, expected) -> bool:
    if type(value) == expected:
        return True
    answer_type = _answer_type(accepted)
    return answer_type is not None and type(value) == answer_type


def standardize_string(text: str) -> str:
    """BFCL's string normalisation: drop spaces and `,./-_*^`, lowercase, `'` -> `"`."""
    return text.translate(_STRIP).lower().replace("'", '"')


def _string(param, value, accepted):
    if standardize_string(value) not in [standardize_string(a) for a in accepted if type(a) == str]:
        return (
            "value_error:string",
            f"Invalid value for parameter {param!r}: {value!r}. Expected one of {accepted}. Case insensitive.",
        )
    return None


def _standardize_items(items):
    """Index-based like bfcl-eval, so odd answer shapes fail (or pass) exactly as they do there."""
    return [standardize_string(items[j]) if type(items[j]) == str else items[j] for j in range(len(items))]


def _list(param, value, accepted):
    if _standardize_items(list(value)) not in [_standardize_items(a) for a in accepted]:
        message = f"Invalid value for parameter {param!r}: {value!r}. Expected one of {accepted}."
        return "value_error:list/tuple", message
    return None


def _dict(param, value, accepted):
    failure = "dict_checker:unclear", ""
    for answer in accepted:
        if answer == "":
            continue
        failure, ok = ("dict_checker:unclear", ""), True
        for key, item in value.items():
            if key not in answer:
                failure, ok = ("value_error:dict_key", f"Unexpected dict key parameter: '{key}'."), False
                break
            standardized = standardize_string(item) if type(item) == str else item
            if standardized not in _standardize_items(answer[key]):
                failure = "value_error:dict_value", f"Invalid value for parameter {key!r}: {item!r}."
                ok = False
                break
        for key, options in answer.items():
            if key not in value and "" not in options:
                failure, ok = ("value_error:dict_key", f"Missing dict key parameter: '{key}'."), False
                break
        if ok:
            return None
    return failure


def _list_dict(param, value, accepted):
    failure = "list_dict_checker:unclear", ""
    for answer in accepted:
        if len(value) != len(answer):
            failure = "value_error:list_dict_count", "Wrong number of dictionaries in the list."
            continue
        ok = True
        for i in range(len(value)):
            failure = _dict(param, value[i], [answer[i]])
            if failure:
                ok = False
                break
        if ok:
            return None
    return failure

