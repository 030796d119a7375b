"""Each validity rule accepts a good rewrite and rejects the bad ones, saying why."""

import pytest

from advfc.data import Example, load_bfcl_ids
from advfc.prompts import gold_call_text
from advfc.validity import INVALID, UNPARSEABLE, VALID, check_rewrite, numbers_in, preserved_literals, similarity


@pytest.fixture(scope="module")
def triangle():
    (ex,) = load_bfcl_ids(["simple_python_0"])  # base=10, height=5, unit 'units' (optional)
    return ex


def verdict(query, ex):
    return check_rewrite(query, ex, gold_call_text(ex))


def test_a_real_rewrite_is_valid(triangle):
    v = verdict("I've got a triangle, 5 units tall with a 10-unit base. How much area does it cover?", triangle)
    assert v.status == VALID and v.reasons == ()


def test_rule1_values_must_survive_in_any_spelling(triangle):
    assert verdict("What is the area of a triangle whose base is ten and height is 5 units?", triangle).reasons == (
        "drops value 10 of calculate_triangle_area.base",
    )
    big = Example("x", "simple", [{"name": "pay", "parameters": {"properties": {"amount": {"type": "integer"}}}}],
                  [{"role": "user", "content": "Send 1000 dollars to Bob"}], [{"pay": {"amount": [1000]}}])
    assert verdict("Please wire 1,000 dollars over to Bob now", big).valid
    assert verdict("Please wire one thousand dollars over to Bob now", big).status == INVALID
    assert numbers_in("1,000 and 2.50 and 1 000 and -3 but not v2 or 10th") == {1000.0, 2.5, -3.0}


def test_rule1_strings_use_bfcl_normalisation():
    (ex,) = load_bfcl_ids(["live_multiple_0-0-0"])  # drink_id 'latte', preferences incl. 'large', 'coconut'
    groups = dict(preserved_literals(ex))
    assert "ChaDri.change_drink.drink_id" in groups
    ok = "My drink order LATTE should be made Large, with Coconut milk, extra sweet and served boiling hot please"
    assert verdict(ok, ex).valid, verdict(ok, ex).reasons
    bad = verdict("Make my latte bigger with coconut milk, extra sweet, boiling hot", ex)
    assert any("large" in r for r in bad.reasons)


def test_rule2_natural_text_only(triangle):
    assert "contains a code fence" in verdict("```\nbase 10 height 5 area of triangle\n```", triangle).reasons
    assert "contains call syntax" in verdict("calculate_triangle_area(base=10, height=5) please", triangle).reasons
    assert "contains call syntax" in verdict("run f() on a base 10, height 5 triangle", triangle).reasons


def test_rule3_must_differ_and_stay_short(triangle):
    same = verdict(triangle.query, triangle)
    assert any(r.startswith("too similar to the original") for r in same.reasons)
    long = verdict("Area of a triangle, base 10, height 5. " * 10, triangle)
    assert any(r.startswith("longer than 3x") for r in long.reasons)


def test_rule4_irrelevance_rewrites_must_not_name_tools():
    (ex,) = load_bfcl_ids(["irrelevance_0"])
    name = ex.tools[0]["name"]
    v = verdict(f"Could you use {name} for me, and also tell me the weather?", ex)
    assert any("names a tool" in r for r in v.reasons)
    assert verdict("What's a good recipe for lemon cake this weekend?", ex).valid


def test_unparseable_is_distinct_from_invalid(triangle):
    assert verdict(None, triangle).status == UNPARSEABLE
    assert verdict("   ", triangle).status == UNPARSEABLE


def test_similarity_is_symmetric_and_bounded():
    assert similarity("abc def", "abc def") == 1.0
    assert similarity("hello world", "dlrow olleh") < 0.5
    assert similarity("a b", "b a") == similarity("b a", "a b")
