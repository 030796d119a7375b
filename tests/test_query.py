from advfc.data import load_bfcl_ids
from advfc.prompts import gold_call_text
from advfc.query import TACTICS, parse_rewrite, query_messages, tactic, tactics_up_to


def test_tactics_cover_three_levels():
    assert [len(tactics_up_to(level)) for level in (1, 2, 3)] == [2, 5, 9]
    assert tactic("typos").level == 3 and len({t.name for t in TACTICS}) == len(TACTICS)


def test_query_prompt_carries_tools_original_gold_and_tactic():
    (ex,) = load_bfcl_ids(["multiple_0"])
    gold = gold_call_text(ex)
    user = query_messages(ex, gold, tactic("indirect"))[1]["content"]
    assert f"Correct call: {gold}" in user and f"Original request: {ex.query}" in user
    assert tactic("indirect").instruction in user and all(t["name"] in user for t in ex.tools)
    back = query_messages(ex, gold, with_original=False)[1]["content"]
    assert "Original request" not in back and "Rewrite it" not in back


def test_irrelevance_prompt_says_no_tool_applies():
    (ex,) = load_bfcl_ids(["irrelevance_3"])
    user = query_messages(ex, gold_call_text(ex), tactic("filler"))[1]["content"]
    assert "Correct call: none" in user


def test_parse_rewrite_strips_framing_only():
    assert parse_rewrite('Rewritten request: "Find the area of a 10 by 5 triangle"') == "Find the area of a 10 by 5 triangle"
    assert parse_rewrite("What's the weather in Paris?\n\nI kept the city.") == "What's the weather in Paris?"
    assert parse_rewrite("**Request:** hi there") == "hi there"
    assert parse_rewrite("") is None and parse_rewrite("  \n ") is None and parse_rewrite("123 ...") is None
    assert parse_rewrite("x" * 10000) == "x" * 10000
