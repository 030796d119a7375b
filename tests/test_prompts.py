"""The FC prompt is exactly what BFCL's own prompt-mode pipeline builds (recorded from bfcl-eval)."""

import json
from pathlib import Path

from advfc.data import load_bfcl_ids
from advfc.models import load_tokenizer
from advfc.prompts import fc_messages, gold_call_text, render_chat

GOLDEN = json.loads((Path(__file__).parent / "golden" / "prompts.json").read_text())


def test_fc_messages_equal_official_pipeline():
    examples = load_bfcl_ids([g["id"] for g in GOLDEN])
    for ex, golden in zip(examples, GOLDEN):
        assert fc_messages(ex) == golden["messages"], ex.id


def test_fc_messages_do_not_mutate_the_example():
    (ex,) = load_bfcl_ids(["live_simple_0-0-0"])
    before = json.dumps(ex.to_dict())
    fc_messages(ex)
    assert json.dumps(ex.to_dict()) == before


def test_render_uses_the_model_chat_template(tiny_model_path):
    tokenizer = load_tokenizer(tiny_model_path)
    (ex,) = load_bfcl_ids(["simple_python_0"])
    text = render_chat(tokenizer, fc_messages(ex))
    assert text.startswith("<|im_start|>system\nYou are an expert in composing functions.")
    assert text.endswith("<|im_start|>user\n" + ex.query + "<|im_end|>\n<|im_start|>assistant\n")


def test_gold_call_text_is_a_checkable_call():
    ex, multi = load_bfcl_ids(["simple_python_0", "live_multiple_0-0-0"])
    assert gold_call_text(ex) == "[calculate_triangle_area(base=10, height=5, unit='units')]"
    assert gold_call_text(multi).startswith("[ChaDri.change_drink(drink_id='latte', new_preferences={'size': 'large'")
