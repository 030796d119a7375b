"""Checker behaviour that is easy to get wrong; the golden files pin it against bfcl-eval at scale."""

import re

import pytest

from advfc.checker import DecodeError, check, decode, standardize_string
from advfc.data import Example, load_bfcl_ids

SIMPLE, IRRELEVANCE, MULTIPLE = load_bfcl_ids(["simple_python_0", "irrelevance_0", "multiple_0"])


def value(text: str):
    (call,) = decode(f"[f(a={text})]")
    return call["f"]["a"]


def example(category, tools, answers) -> Example:
    return Example("x", category, tools, [{"role": "user", "content": "q"}], answers)


def tool(name, props, required=()):
    return {"name": name, "parameters": {"type": "dict", "properties": props, "required": list(required)}}


# ----------------------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    "raw, calls",
    [
        ("f(a=1)", [{"f": {"a": 1}}]),
        ("f(a=1), g()", [{"f": {"a": 1}}, {"g": {}}]),
        ("```\n[f(a=1)]\n```", [{"f": {"a": 1}}]),
        (" \n`[f(a=1)]`\n ", [{"f": {"a": 1}}]),
        ("", []),
        ("[]", []),
        ("[f(a=1),]", [{"f": {"a": 1}}]),
        ("[f(1, 2, a=3)]", [{"f": {"a": 3}}]),
        ("[f(**kw)]", [{"f": {None: "kw"}}]),
        ("[f(a=1, **{'b': 2})]", [{"f": {"a": 1, None: {"b": 2}}}]),
        ("[f(a=1, a=2)]", [{"f": {"a": 2}}]),
        ("[a.b.c(x=1)]", [{"a.b.c": {"x": 1}}]),
        ("['s'.f(x=1)]", [{"f": {"x": 1}}]),
        ("[g().h.f()]", [{"h.f": {}}]),
        ("[f()()]", [{"": {}}]),
    ],
)
def test_decode(raw, calls):
    assert decode(raw) == calls


@pytest.mark.parametrize(
    "raw",
    ["\t[f(a=1)]", "[f(a=1)]\r\n", "```python\n[f(a=1)]\n```", "'[f(a=1)]'", "[f(a=1)] thanks", "[[f(a=1)]]",
     "[f]", "[1]", "None", "f(a=1); g(b=2)", "[f(a=1)][0]", "[f(a=1)] + [g()]", '{"name": "f", "arguments": {}}'],
)
def test_decode_failures(raw):
    with pytest.raises(DecodeError):
        decode(raw)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("+5", -5),  # BFCL negates the operand whatever the unary operator
        ("~5", -5),
        ("not True", -1),
        ("-2.5", -2.5),
        ("-1j", -1j),
        ("2 + 3", 5),
        ("7 / 2", 3.5),
        ("-7 // 2", -4),
        ("2 ** -1", 0.5),
        ("(-8) ** 2", 64),
        ("1 + +2", 3),  # inside an operator, Python's own semantics
        ("2 * (not 0)", 2),
        ("True + True", 2),
        ("10 ** 4299 // 10 ** 4298", 10),
        ("1e400", float("inf")),
        ("...", "..."),
        ("None", None),
        ("zz", "zz"),
        ("str(5)", "str(5)"),
        ("g(1, b='x')", {"g": {"b": "x"}}),
        ("x[0]", "x[0]"),
        ("x[1, 2]", "x[(1, 2)]"),
        ("x[1:2]", "x[1:2]"),
        ("(1, [2, (3,)])", (1, [2, (3,)])),
        ("{'a': (1,), 1: 2, True: 3}", {"a": (1,), 1: 3}),
        ("'a' 'b'", "ab"),
        ("b'x'", b"x"),
    ],
)
def test_values(text, expected):
    got = value(text)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    "text",
    ["-x", "-(1 + 2)", "--5", "-'a'", "-None", "lambda: 1", "{1, 2}", "{**x}", "{[1]: 2}", "[*x]", "f'{x}'", "x.y",
     "1 < 2", "1 and 2", "x if y else z", "1 / 0", "2 @ 3", "1.5 | 2", "(x := 1)", "'a' + 'b'", "[1] * 2",
     "10 ** 4300", "2 ** 10 ** 6", "1 << 100_000", "+".join(["1"] * 329)],
)
def test_value_failures(text):
    with pytest.raises(DecodeError):
        value(text)


def test_operator_depth_bound_matches_the_official_recursion_limit():
    assert value("+".join(["1"] * 328)) == 328
    assert value("1 + " + "-" * 326 + "1") == 2


# ----------------------------------------------------------------------------- verdicts


def test_categories_dispatch_like_eval_runner():
    right = "[calculate_triangle_area(base=10, height=5)]"
    assert check(right, SIMPLE).correct
    assert check(right[:-1] + ", " + right[1:], SIMPLE).error_type == "simple_function_checker:wrong_count"
    assert check(right + ", " + right, SIMPLE).error_type == "ast_decoder:decoder_failed"
    assert check("nope", SIMPLE).error_type == "ast_decoder:decoder_failed"
    assert check("nope", IRRELEVANCE).correct and check("[]", IRRELEVANCE).correct
    assert check("[f()]", IRRELEVANCE).error_type == "irrelevance_error:decoder_success"
    relevance = example("live_relevance", SIMPLE.tools, [])
    assert check("[f()]", relevance).correct
    assert check("[]", relevance).error_type == "relevance_error:decoder_failed"


def test_verdict_keeps_the_decoded_calls():
    verdict = check("[calculate_triangle_area(base=10, height=6)]", SIMPLE)
    assert verdict.error_type == "value_error:others"
    assert verdict.decoded == [{"calculate_triangle_area": {"base": 10, "height": 6}}]
    assert "height" in verdict.error


def test_parallel_is_order_free_and_greedy_like_bfcl():
    f = tool("f", {"a": {"type": "integer"}}, ["a"])
    ex = example("parallel", [f], [{"f": {"a": [1, 2]}}, {"f": {"a": [1]}}])
    assert check("[f(a=2), f(a=1)]", ex).correct
    # BFCL matches answers to calls greedily: the first answer takes f(a=1), the second finds nothing.
    assert check("[f(a=1), f(a=2)]", ex).error_type == "parallel_function_checker_no_order:cannot_find_match"


def test_advfc_categories_follow_the_same_rules():
    f, g = tool("f", {"a": {"type": "integer"}}, ["a"]), tool("g", {"b": {"type": "float"}}, ["b"])
    assert check("[g(b=2)]", example("multiple", [f, g], [{"g": {"b": [2.0]}}])).correct
    both = example("parallel_multiple", [f, g], [{"f": {"a": [1]}}, {"g": {"b": [2.0]}}])
    assert check("[g(b=2), f(a=1)]", both).correct
    assert check("[f(a=1)]", example("simple", [f], [{"f": {"a": [1]}}])).correct
    assert check("I can't.", example("irrelevance", [f], [])).correct


def test_prompt_mode_keeps_dotted_names():
    factorial = tool("math.factorial", {"n": {"type": "integer"}}, ["n"])
    ex = example("simple", [factorial], [{"math.factorial": {"n": [5]}}])
    assert check("[math.factorial(n=5)]", ex).correct
    assert check("[math_factorial(n=5)]", ex).error_type == "simple_function_checker:wrong_func_name"


@pytest.mark.parametrize(
    "text",
    ["Hello, World!", "it's", 'say "hi"', "a/b.c-d_e*f^g", "ÄÖÜ ß", "İstanbul", "  spaced  out ", "Ǆ", "a\tb"],
)
def test_standardize_string_is_bfcls_regex(text):
    assert standardize_string(text) == re.sub(r"[ \,\.\/\-\_\*\^]", "", text).lower().replace("'", '"')


def test_multiple_checks_only_the_expected_function():
    assert check("[" + MULTIPLE.tools[0]["name"] + "()]", MULTIPLE).error_type in (
        "simple_function_checker:wrong_func_name",
        "simple_function_checker:missing_required",
    )
