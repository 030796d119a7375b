"""Each validity rule accepts a good rewrite and rejects the bad ones, saying why."""

import pytest

from advfc.data import Example, load_bfcl_ids
from advfc.prompts import gold_call_text
from advfc.validity import (
    UNPARSEABLE,
    VALID,
    Judge,
    ValidityRules,
    check_rewrite,
    numbers_in,
    parse_yes_no,
    preserved_literals,
    reason_class,
    similarity,
)
from scripted import ScriptedGenerator

TRIANGLE, LATTE, EM_FORCE, WASHINGTON_LIKE = load_bfcl_ids(
    ["simple_python_0", "live_multiple_0-0-0", "parallel_1", "irrelevance_0"]
)  # base=10, height=5 / latte, large, coconut / b_field 5, area 2, d_time 4 and 10 / BMI tool, triangle question


def reasons(query, ex=TRIANGLE, **kwargs):
    return check_rewrite(query, ex, **kwargs).reasons


def classes(query, ex=TRIANGLE, **kwargs):
    return {reason_class(r) for r in reasons(query, ex, **kwargs)}


def flag_example(query, value=True, name="aligned"):
    tools = [{"name": "format_text", "parameters": {"type": "dict", "properties": {
        "text": {"type": "string"}, name: {"type": "boolean"}}, "required": ["text", name]}}]
    return Example("flag", "simple", tools, [{"role": "user", "content": query}],
                   [{"format_text": {"text": ["hello world"], name: [value]}}])


def test_a_real_rewrite_is_valid():
    v = check_rewrite("I've got a triangle, 5 units tall with a 10-unit base. How much area does it cover?", TRIANGLE)
    assert v.status == VALID and v.reasons == ()


# ----------------------------------------------------------------------------- rule 1: values kept


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1,000 and 2.50 and -3 but not v2", {1000.0, 2.5, -3.0}),
        ("five and twenty-five", {5.0, 25.0}),
        ("two thousand five hundred", {2500.0}),
        ("a hundred and ten", {110.0}),
        ("500ml of water for 600s", {500.0, 600.0}),
        ("5.0 or .5", {5.0, 0.5}),
        ("2 500 people", {2500.0, 2.0, 500.0}),
        ("minus three", {-3.0}),
        ("two point five", {2.5}),
        ("10% off", {10.0, 0.1}),
    ],
)
def test_numbers_in_every_common_spelling(text, expected):
    assert expected <= numbers_in(text)


def test_ranks_are_not_quantities():
    assert numbers_in("my 4th grade homework, the fifth time") == set()


def test_values_survive_in_any_spelling():
    assert check_rewrite("What is the area of a triangle whose base is ten and height is five units?", TRIANGLE).valid
    assert check_rewrite("Triangle with a 10.0 unit base, 5 units high: what's its area?", TRIANGLE).valid
    assert reasons("What is the area of a triangle whose base is 12 and height is 5 units?") == (
        "drops value 10 of calculate_triangle_area.base",
    )
    big = Example("x", "simple", [{"name": "pay", "parameters": {"properties": {"amount": {"type": "integer"}}}}],
                  [{"role": "user", "content": "Send 2500 dollars to Bob"}], [{"pay": {"amount": [2500]}}])
    for spelling in ("2,500", "2 500", "two thousand five hundred"):
        assert check_rewrite(f"Please wire {spelling} dollars over to Bob now", big).valid, spelling


def test_string_values_match_on_word_boundaries():
    ny = Example("x", "simple", [{"name": "weather", "parameters": {"properties": {"city": {"type": "string"}}}}],
                 [{"role": "user", "content": "What's the weather in NY today?"}], [{"weather": {"city": ["NY"]}}])
    assert "drops value 'NY' of weather.city" in reasons("Is it raining anywhere near me today?", ny)
    assert check_rewrite("Could you tell me how the weather looks in ny today?", ny).valid
    groups = dict(preserved_literals(LATTE))
    assert "ChaDri.change_drink.drink_id" in groups
    ok = "My drink order LATTE should be made Large, with Coconut milk, extra sweet and served boiling hot please"
    assert check_rewrite(ok, LATTE).valid, reasons(ok, LATTE)
    assert any("large" in r for r in reasons("Make my latte bigger with coconut milk, extra sweet, boiling hot", LATTE))


def test_a_search_syntax_value_keeps_each_of_its_fields():
    # gold query 'track:Friends artist:Marshmello', asked as "Play the song 'Friends' by Marshmello"
    (song,) = load_bfcl_ids(["live_simple_235-124-0"])
    assert check_rewrite("Put on Friends by Marshmello, please", song).valid
    assert reasons("Play the song Friends for me", song) == (
        "drops value 'Marshmello' of play_spotify_song.query[artist]",
    )
    assert classes("Why authors should avoid recording a free play for themselves", song) >= {"drops value"}


def test_a_value_word_that_names_a_tool_is_still_a_value():
    ride = Example("x", "live_simple", [{"name": "ride", "description": "Book a ride.", "parameters": {"properties": {
        "loc": {"type": "string"}, "type": {"type": "string"}}}}],
        [{"role": "user", "content": "Book a plus ride to 2150 Shattuck Ave, Berkeley"}],
        [{"ride": {"loc": ["2150 Shattuck Ave, Berkeley"], "type": ["plus"]}}])
    assert check_rewrite("Could you get me a plus ride over to 2150 Shattuck Ave, Berkeley?", ride).valid


@pytest.mark.parametrize(
    "query, value, rewrite, reason",
    [
        ("Format hello world with the lines aligned", True, "Format hello world, lines unaligned please", "flips boolean"),
        ("Format hello world with the lines aligned", True, "Format hello world but don't keep it aligned", "flips boolean"),
        ("Format hello world with the lines aligned", True, "Please format hello world for me, thanks", "drops boolean"),
        ("Format hello world, not aligned", False, "Please format hello world and keep it aligned", "flips boolean"),
    ],
)
def test_booleans_are_checked_through_their_words(query, value, rewrite, reason):
    assert reason in classes(rewrite, flag_example(query, value))


def test_booleans_kept_are_valid():
    ex = flag_example("Format hello world with the lines aligned")
    assert check_rewrite("Can you format hello world so that everything is aligned?", ex).valid
    off = flag_example("Format hello world, not aligned", False)
    assert check_rewrite("Could you format hello world without it being aligned?", off).valid
    include = flag_example("Format hello world and include details", True, "include_details")
    assert "flips boolean" in classes("Format hello world and exclude the details", include)


def test_enums_cannot_switch_option():
    tools = [{"name": "sort_list", "parameters": {"type": "dict", "properties": {
        "items": {"type": "array", "items": {"type": "integer"}}, "order": {"type": "string", "enum": ["ascending", "descending"]}}}}]
    ex = Example("x", "simple", tools, [{"role": "user", "content": "Sort the list 3, 1, 2 in ascending order"}],
                 [{"sort_list": {"items": [[3, 1, 2]], "order": ["ascending"]}}])
    assert "names another option" in classes("Could you put 3, 1, 2 in descending order for me?", ex)
    assert check_rewrite("Could you put 3, 1, 2 in ascending order for me?", ex).valid


# ----------------------------------------------------------------------------- rule 2: not contradicted


@pytest.mark.parametrize(
    "rewrite, reason",
    [
        ("What's the area of a triangle, base not 10, height 5 units?", "negates value"),
        ("Area of a triangle with a base of 10 and height of 5 -- actually make it 900.", "contains a correction"),
        ("Triangle area for base 10, height 5, no wait, height 7 instead.", "contains a correction"),
        ("What is the area of a triangle with a base of 5 and a height of 10?", "moves value"),
    ],
)
def test_contradictions_are_rejected(rewrite, reason):
    assert reason in classes(rewrite)


def test_parallel_values_keep_their_anchors():
    swapped = ("Compute the induced EMF for a 5 Tesla field over 2 square meters with a time change of 10 seconds, "
               "then redo it with a change in time of 4 seconds.")
    assert check_rewrite(swapped, EM_FORCE).valid  # order of the two calls is free in BFCL's parallel check
    moved = "Induced EMF: magnetic field of 2 Tesla, area of 5 square meters, time change 4 seconds, then 10 seconds."
    assert "moves value" in classes(moved, EM_FORCE)


# ----------------------------------------------------------------------------- rule 3: a natural request


@pytest.mark.parametrize(
    "rewrite, reason",
    [
        ("```\nbase 10 height 5 area of triangle\n```", "contains a code fence"),
        ("calculate_triangle_area(base=10, height=5) please", "contains call syntax"),
        ("run f() on a base 10, height 5 triangle", "contains call syntax"),
        ('Area please: {"base": 10, "height": 5}', "contains a JSON object"),
        ("triangle area: base=10, height=5", "contains an argument list"),
        ("Sure! Here is the area of a triangle with base 10 and height 5: 25.", "answers instead of asking"),
        ("The area of a triangle with base 10 and height 5 is 25 units.", "states no request"),
        ("底边为10、高为5的三角形面积是多少？", "changes language"),
    ],
)
def test_non_requests_are_rejected(rewrite, reason):
    assert reason in classes(rewrite)


def test_a_narration_or_a_bare_fragment_of_a_request_is_no_request():
    """Rewrites the guard passed in a CPU experiment's round 1 (docs/results.md): the seed's call
    stays right only if the user still asks for it."""
    song, trip = load_bfcl_ids(["live_multiple_945-196-3", "live_multiple_177-74-0"])  # play 'Wo noor' / a trip from New York, NY
    assert "states no request" in classes("Wo noor.", song)
    assert "states no request" in classes("The trip started at a hotel in New York, NY.", trip)
    # A terse rewrite of a terse original, and a narration that still asks, stay valid.
    assert check_rewrite("Play Wo noor for me.", song).valid
    assert check_rewrite("I started out from New York, NY. Could you give me the trip details?", trip).valid


def test_a_cut_off_completion_is_invalid_whatever_it_says():
    good = "I've got a triangle, 5 units tall with a 10-unit base. How much area does it cover?"
    assert check_rewrite(good, TRIANGLE, truncated=True).reasons == ("truncated",)
    assert check_rewrite(None, TRIANGLE, truncated=True).status == UNPARSEABLE


# ----------------------------------------------------------------------------- rule 4: changed, not bloated


def test_must_differ_and_stay_short():
    assert "too similar to the original" in classes(TRIANGLE.query)
    assert "longer than" in classes("Area of a triangle, base 10, height 5. " * 10)
    assert "longer than" not in classes("Area of a triangle, base 10, height 5. " * 10, rules=ValidityRules(max_length_ratio=20))


# ----------------------------------------------------------------------------- rule 5: irrelevance stays irrelevant


def test_irrelevance_rewrites_keep_their_subject_and_stay_away_from_the_tools():
    ex = WASHINGTON_LIKE  # "Calculate the area of a triangle given the base is 10 meters and height is 5 meters." + a BMI tool
    assert check_rewrite("Could you work out a triangle's area? Its base is 10 meters and its height 5 meters.", ex).valid
    name = ex.tools[0]["name"]
    assert "names a tool" in classes(f"Could you use {name} for a triangle with base 10 m and height 5 m?", ex)
    assert "drops the subject" in classes("What's a good recipe for lemon cake this weekend?", ex)
    toward = "Calculate my body mass index: my weight is 10 kilograms and my height is 5 meters."
    assert "moves toward the tools" in classes(toward, ex)


def test_topic_drift_from_the_issue_is_rejected():
    weather = [{"name": "get_weather", "description": "Get the current weather for a location.",
                "parameters": {"type": "dict", "properties": {"location": {"type": "string", "description": "City and state, e.g. Boston, MA"}}}}]
    ex = Example("x", "irrelevance", weather, [{"role": "user", "content": "When was George Washington born?"}], [])
    assert check_rewrite("Do you know the year George Washington was born?", ex).valid
    drift = check_rewrite("What's the weather like right now in Boston, MA?", ex)
    assert {reason_class(r) for r in drift.reasons} >= {"drops the subject", "moves toward the tools"}


def test_unparseable_is_distinct_from_invalid():
    assert check_rewrite(None, TRIANGLE).status == UNPARSEABLE
    assert check_rewrite("   ", TRIANGLE).status == UNPARSEABLE


def test_similarity_is_symmetric_and_bounded():
    assert similarity("abc def", "abc def") == 1.0
    assert similarity("hello world", "dlrow olleh") < 0.5
    assert similarity("a b", "b a") == similarity("b a", "a b")


# ----------------------------------------------------------------------------- the judge


@pytest.mark.parametrize(
    "reply, answer",
    [("Yes.", True), ("yes", True), ("**Yes**, it is.", True), ("No, it asks for more.", False),
     ("<think>Maybe yes... no</think>\nNo", False), ("<think>no</think> Yes", True), ("Answer: no", False),
     ("I am not sure", None), ("Yesterday", None), ("", None)],
)
def test_judge_replies_are_parsed_robustly(reply, answer):
    assert parse_yes_no(reply) is answer


def test_judge_asks_per_seed_kind_and_never_accepts_a_non_answer():
    judge = Judge(ScriptedGenerator(lambda c: "yes" if "Correct call" in c[-1]["content"] else "hmm"))
    assert judge.agrees([(TRIANGLE, "area of a triangle, base 10 and height 5?"), (WASHINGTON_LIKE, "q")]) == [True, False]
    conversations, params = judge.generator.asked[0]
    assert gold_call_text(TRIANGLE) in conversations[0][-1]["content"]
    assert "none of the tools" in conversations[1][-1]["content"] and params.temperature == 0
    assert judge.agrees([]) == []


def test_the_judge_renders_chats_with_thinking_off(tiny_model_path):
    """Qwen3-style templates read `enable_thinking`; the judge's generator must pass it as False."""
    from transformers import AutoTokenizer

    from advfc.generation.hf import HFGenerator
    from advfc.models import load_model
    from advfc.validity import JUDGE_TEMPLATE_KWARGS

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
        "{% if enable_thinking is defined and enable_thinking is false %}<think></think>{% else %}<think>{% endif %}"
    )
    model = load_model(tiny_model_path)
    chat = [{"role": "user", "content": "same call?"}]
    judged = HFGenerator(model, tokenizer, chat_template_kwargs=JUDGE_TEMPLATE_KWARGS).encode([chat])[0]
    plain = HFGenerator(model, tokenizer).encode([chat])[0]
    assert tokenizer.decode(judged).endswith("<think></think>") and tokenizer.decode(plain).endswith("<think>")


def test_an_endpoint_judge_asks_with_thinking_off():
    """vLLM-style servers take `chat_template_kwargs` in the request body."""
    import json
    from http.server import BaseHTTPRequestHandler

    from test_server import fake_endpoint

    from advfc.generation import build_generator
    from advfc.validity import JUDGE_TEMPLATE_KWARGS

    bodies = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            reply = json.dumps({"choices": [{"message": {"content": "Yes"}, "finish_reason": "stop"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    with fake_endpoint(Handler) as url:
        judge = Judge(build_generator(url, "openai", chat_template_kwargs=JUDGE_TEMPLATE_KWARGS))
        assert judge.agrees([(TRIANGLE, "area of a triangle, base 10 and height 5?")]) == [True]
    assert bodies[0]["chat_template_kwargs"] == {"enable_thinking": False} and bodies[0]["temperature"] == 0
