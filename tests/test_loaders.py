"""xLAM and OpenAI-tools data become BFCL-shaped examples the checker can judge."""

import json

import pytest

from advfc.data import load_openai_jsonl, load_xlam
from advfc.errors import InputError

XLAM_ROW = {
    "id": 7,
    "query": "Where can I find live giveaways for beta access and games?",
    "tools": json.dumps([
        {
            "name": "live_giveaways_by_type",
            "description": "Retrieve live giveaways from the GamerPower API based on the specified type.",
            "parameters": {
                "type": {"description": "The type of giveaways to retrieve.", "type": "str", "default": "game"},
                "limit": {"description": "How many.", "type": "int, optional"},
                "tags": {"description": "Tags.", "type": "List[str]"},
            },
        }
    ]),
    "answers": json.dumps([
        {"name": "live_giveaways_by_type", "arguments": {"type": "beta", "tags": ["a"]}},
        {"name": "live_giveaways_by_type", "arguments": {"type": "game", "tags": ["b"]}},
    ]),
}


def test_xlam_json_array_file(tmp_path):
    p = tmp_path / "xlam.json"
    p.write_text(json.dumps([XLAM_ROW]))
    (ex,) = load_xlam(p)
    assert ex.id == "xlam_7" and ex.category == "parallel" and ex.source == "xlam"
    (tool,) = ex.tools
    props = tool["parameters"]["properties"]
    assert props["type"] == {"type": "string", "description": "The type of giveaways to retrieve.", "default": "game"}
    assert props["limit"]["type"] == "integer" and props["tags"] == {"type": "array", "description": "Tags.", "items": {"type": "string"}}
    assert tool["parameters"]["required"] == ["tags"]
    assert ex.answers == [
        {"live_giveaways_by_type": {"type": ["beta"], "tags": [["a"]], "limit": [""]}},
        {"live_giveaways_by_type": {"type": ["game", ""], "tags": [["b"]], "limit": [""]}},
    ]


def test_xlam_jsonl_errors_name_line(tmp_path):
    p = tmp_path / "xlam.jsonl"
    bad = dict(XLAM_ROW, answers=json.dumps([{"name": "nope", "arguments": {}}]))
    p.write_text(json.dumps(XLAM_ROW) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError, match=r"xlam.jsonl:2: answer calls unknown tool 'nope'"):
        load_xlam(p)
    p.write_text(json.dumps(dict(XLAM_ROW, tools="[{not json")) + "\n")
    with pytest.raises(InputError, match=r"xlam.jsonl:1: 'tools' is not valid JSON"):
        load_xlam(p)


def test_xlam_hub_name_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="could not load dataset 'Salesforce/xlam-function-calling-60k'"):
        load_xlam("Salesforce/xlam-function-calling-60k")


def test_missing_local_file_is_not_mistaken_for_hub_name(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_xlam(tmp_path / "nope.json")


OPENAI_ROW = {
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Weather in Paris in celsius, and book a table for 2."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'}},
                {"type": "function", "function": {"name": "book", "arguments": '{"people": 2, "options": {"window": true}}'}},
            ],
        },
    ],
    "tools": [
        {"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}},
        {"type": "function", "function": {"name": "book", "description": "Book.", "parameters": {
            "type": "object",
            "properties": {"people": {"type": "integer"}, "options": {"type": "object", "properties": {"window": {"type": "boolean"}}}},
            "required": ["people"]}}},
    ],
}


def test_openai_jsonl(tmp_path):
    p = tmp_path / "chats.jsonl"
    no_call = {"messages": [{"role": "user", "content": "tell me a joke"}, {"role": "assistant", "content": "no"}], "tools": OPENAI_ROW["tools"]}
    p.write_text(json.dumps(OPENAI_ROW) + "\n" + json.dumps(no_call) + "\n")
    ex, irr = load_openai_jsonl(p)
    assert ex.category == "parallel_multiple" and ex.messages[0]["role"] == "system"
    assert ex.tools[0]["parameters"]["properties"]["unit"] == {"type": "string", "description": "", "enum": ["celsius", "fahrenheit"]}
    assert ex.answers == [
        {"get_weather": {"city": ["Paris"], "unit": ["celsius"]}},
        {"book": {"people": [2], "options": [{"window": [True]}]}},
    ]
    assert irr.category == "irrelevance" and irr.answers == [] and irr.id == "chats_2"


def test_openai_errors_name_line(tmp_path):
    p = tmp_path / "chats.jsonl"
    bad = json.loads(json.dumps(OPENAI_ROW))
    bad["messages"][-1]["tool_calls"][0]["function"]["arguments"] = "{oops"
    p.write_text(json.dumps(OPENAI_ROW) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError, match=r"chats.jsonl:2: tool_call arguments is not valid JSON"):
        load_openai_jsonl(p)
    p.write_text(json.dumps({"messages": [{"role": "user", "content": "x"}], "tools": []}) + "\n")
    with pytest.raises(InputError, match=r"chats.jsonl:1: the last message must be the assistant's answer"):
        load_openai_jsonl(p)


def test_openai_content_as_text_parts(tmp_path):
    """OpenAI's list-of-parts content is valid input: its text parts are joined; other parts are refused."""
    p = tmp_path / "chats.jsonl"
    row = json.loads(json.dumps(OPENAI_ROW))
    row["messages"][1]["content"] = [{"type": "text", "text": "Weather in Paris"}, {"type": "text", "text": " in celsius."}]
    p.write_text(json.dumps(row) + "\n")
    (ex,) = load_openai_jsonl(p)
    assert ex.query == "Weather in Paris in celsius."
    row["messages"][1]["content"].append({"type": "input_audio", "input_audio": {}})
    p.write_text(json.dumps(row) + "\n")
    with pytest.raises(InputError, match=r"chats.jsonl:1: content part of type 'input_audio' is not supported"):
        load_openai_jsonl(p)


def test_xlam_parameters_must_be_an_object(tmp_path):
    p = tmp_path / "xlam.jsonl"
    p.write_text(json.dumps(dict(XLAM_ROW, tools=json.dumps([{"name": "f", "parameters": ["a", "b"]}]))) + "\n")
    with pytest.raises(InputError, match=r"xlam.jsonl:1: tools\[0\] 'parameters' of 'f' must map parameter names"):
        load_xlam(p)
