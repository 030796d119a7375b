"""Model output is data: hostile outputs are never executed, never crash the checker, never hang it.

The official decoder eval()s binary operations; advfc folds arithmetic on numeric literals only,
with size and depth bounds, so each case below returns a verdict in time linear in its length (the
bounds live in checker.py; nothing here asserts on wall time).
"""

import builtins

import pytest

from advfc.checker import DecodeError, Verdict, check, decode
from advfc.rewards import grade
from advfc.data import Example, load_bfcl_ids

SIMPLE, IRRELEVANCE, PARALLEL = load_bfcl_ids(["simple_python_0", "irrelevance_0", "parallel_0"])
RELEVANCE = Example("r", "live_relevance", SIMPLE.tools, SIMPLE.messages)
ALL = [SIMPLE, IRRELEVANCE, PARALLEL, RELEVANCE]


@pytest.fixture
def no_eval(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("model output reached eval/exec")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)


def payloads(path) -> list[str]:
    touch = f"__import__('os').system('touch {path}')"
    return [
        f"[calculate_triangle_area(base={touch} + 10, height=5)]",
        f"[calculate_triangle_area(base=10 + {touch}, height=5)]",
        f"[calculate_triangle_area(base=-({touch} * 1), height=5)]",
        f"[calculate_triangle_area(base=[1, {touch} * 2], height=5)]",
        f"[calculate_triangle_area(base={{'k': {touch} - 1}}, height=5)]",
        f"[calculate_triangle_area(base=(lambda: {touch})() + 1, height=5)]",
        f"[calculate_triangle_area(base=open('{path}', 'w').write('x') * 1, height=5)]",
        f"[calculate_triangle_area(base=exec(\"open('{path}', 'w')\") or 1, height=5)]",
        f"[calculate_triangle_area(base=f'{{{touch}}}' + 'x', height=5)]",
        f"[calculate_triangle_area(base=zz(a={touch} + 1), height=5)]",
        f"[calculate_triangle_area(base=(1).__class__.__base__.__subclasses__() + [{touch}], height=5)]",
    ]


@pytest.mark.parametrize("index", range(11))
def test_payload_inside_an_operator_never_runs(tmp_path, no_eval, index):
    pwned = tmp_path / "pwned"
    raw = payloads(pwned)[index]
    verdict = check(raw, SIMPLE)
    assert (verdict.correct, verdict.error_type) == (False, "ast_decoder:decoder_failed")
    for example in ALL:
        grade(raw, example)
    with pytest.raises(DecodeError):
        decode(raw)
    assert not pwned.exists()


def test_calls_are_read_not_made(tmp_path, no_eval):
    """A call without keywords is kept as its source text, a subscript too: nothing runs."""
    pwned = tmp_path / "pwned"
    raw = f"[f(a=__import__('os').system('touch {pwned}'), b=x[__import__('os').system('touch {pwned}')])]"
    (call,) = decode(raw)
    command = f"__import__('os').system('touch {pwned}')"
    assert call == {"f": {"a": command, "b": f"x[{command}]"}}
    assert decode(f"[__import__('os').system(cmd='touch {pwned}')]") == [{"system": {"cmd": f"touch {pwned}"}}]
    assert not pwned.exists()


HOSTILE = {
    "deep brackets": "[" * 100_000 + "]" * 100_000,
    "deep parens": "[f(a=" + "(" * 5000 + "1" + ")" * 5000 + ")]",
    "deep nested value": "[f(a=" + "[" * 190 + "]" * 190 + ")]",
    "long string": "[calculate_triangle_area(base=10, height=5, unit='" + "u" * 200_000 + "')]",
    "long prose": "I think " * 25_000,
    "import call": "[__import__('os').system('true')]",
    "lambda": "[calculate_triangle_area(base=lambda: 1, height=5)]",
    "lambda call": "[calculate_triangle_area(base=(lambda: 1)(), height=5)]",
    "kwargs": "[calculate_triangle_area(**{'base': 10, 'height': 5})]",
    "kwargs name": "[calculate_triangle_area(base=10, height=5, **kw)]",
    "subscript": "[calculate_triangle_area(base=x[0][1:2], height=y[1, 2])]",
    "attribute chain": "[a.b.c.d.e.calculate_triangle_area(base=10, height=5)]",
    "attribute on call": "[f()().g.h(base=10)]",
    "empty": "",
    "backticks": "``````",
    "whitespace": " \n\t\r\x0b\x0c ",
    "unbalanced single quote": "[calculate_triangle_area(base=10, height=5, unit='cm)]",
    "unbalanced double quote": '[calculate_triangle_area(base=10, height=5, unit="cm)]',
    "unbalanced triple quote": "[calculate_triangle_area(base=10, unit='''cm)]",
    "huge decimal int": "[calculate_triangle_area(base=" + "9" * 100_000 + ", height=5)]",
    "huge hex int": "[calculate_triangle_area(base=0x" + "f" * 100_000 + ", height=5)]",
    "huge float": "[calculate_triangle_area(base=1" + "0" * 100_000 + ".0, height=5)]",
    "power tower": "[calculate_triangle_area(base=9 ** 9 ** 9, height=5)]",
    "big power": "[calculate_triangle_area(base=10 ** 10 ** 6, height=5)]",
    "nested powers": "[calculate_triangle_area(base=2 ** 2 ** 2 ** 2 ** 2 ** 2, height=5)]",
    "power of big": "[calculate_triangle_area(base=(10 ** 4000) ** 2, height=5)]",
    "product of big": "[calculate_triangle_area(base=10 ** 4000 * 10 ** 4000 * 10 ** 4000, height=5)]",
    "big shift": "[calculate_triangle_area(base=1 << 10 ** 9, height=5)]",
    "negative big shift": "[calculate_triangle_area(base=-1 << 10 ** 9, height=5)]",
    "big right shift": "[calculate_triangle_area(base=1 >> 10 ** 4000, height=5)]",
    "float power": "[calculate_triangle_area(base=1.5 ** 10 ** 9, height=5)]",
    "complex power": "[calculate_triangle_area(base=(1 + 1j) ** 10 ** 100, height=5)]",
    "zero division": "[calculate_triangle_area(base=1 // 0, height=5)]",
    "infinite float": "[calculate_triangle_area(base=10, height=5, unit=1e400)]",
    "long operator chain": "[calculate_triangle_area(base=" + "+".join(["1"] * 100_000) + ", height=5)]",
    "unary chain": "[calculate_triangle_area(base=1 + " + "-" * 100_000 + "1, height=5)]",
    "top-level unary chain": "[calculate_triangle_area(base=" + "-" * 100_000 + "1, height=5)]",
    "null byte": "[calculate_triangle_area(base=10, height=5, unit='\x00')]",
    "lone surrogate": "[calculate_triangle_area(base=10, height=5, unit='\ud800')]",
    "many calls": "[" + "calculate_triangle_area(base=10, height=5)," * 5_000 + "]",
    "many keywords": "[calculate_triangle_area(" + ",".join(f"a{i}={i}" for i in range(5_000)) + ")]",
    "set": "[calculate_triangle_area(base={1, 2}, height=5)]",
    "dict unpacking": "[calculate_triangle_area(base={**x}, height=5)]",
    "unhashable key": "[calculate_triangle_area(base={[1]: 2}, height=5)]",
    "starred": "[calculate_triangle_area(base=[*x], height=5)]",
    "walrus": "[calculate_triangle_area(base=(x := 10), height=5)]",
    "await": "[calculate_triangle_area(base=await x, height=5)]",
    "yield": "[calculate_triangle_area(base=(yield), height=5)]",
    "comprehension": "[x for x in range(10 ** 12)]",
    "generator call": "[calculate_triangle_area(base=sum(x for x in range(10 ** 12)), height=5)]",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_output_gets_a_verdict(name, no_eval):
    raw = HOSTILE[name]
    for example in ALL:
        verdict = check(raw, example)
        assert isinstance(verdict, Verdict)
        assert verdict.correct == (verdict.error_type is None)
        g = grade(raw, example)
        assert 0.0 <= g.partial <= 1.0


@pytest.mark.parametrize(
    "name",
    ["power tower", "big power", "nested powers", "power of big", "product of big", "big shift", "negative big shift"],
)
def test_huge_arithmetic_is_refused_before_it_is_computed(name):
    with pytest.raises(DecodeError, match="too large"):
        decode(HOSTILE[name])


@pytest.mark.parametrize("raw", [None, 123, ["[f(a=1)]"], b"[f(a=1)]", {"result": "x"}])
def test_non_text_output_is_a_decoding_failure(raw):
    assert check(raw, SIMPLE).error_type == "ast_decoder:decoder_failed"
    assert check(raw, IRRELEVANCE).correct
    assert grade(raw, SIMPLE).partial == 0.0


def test_checker_exceptions_become_verdicts():
    """Where bfcl-eval raises (aborting its whole run), advfc answers `checker_error:<exception>`."""
    too_long = "[calculate_triangle_area(base=0x" + "f" * 4000 + ", height=5)]"
    assert check(too_long, SIMPLE).error_type == "checker_error:ValueError"
    tools = [{"name": "f", "parameters": {"type": "dict", "properties": {}}}]
    no_required = Example("x", "simple", tools, SIMPLE.messages, [{"f": {}}])
    assert check("[f()]", no_required).error_type == "checker_error:KeyError"
