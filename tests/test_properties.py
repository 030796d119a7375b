"""Property-based tests (hypothesis) of everything that reads outside data: the JSONL, JSON and YAML
readers, every loader, and the checker's decoder. For any input each either returns what it
promises or raises its own error (InputError, DecodeError); nothing else, and whatever a loader
returns the prompts and the checker can use."""

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_loaders import OPENAI_ROW, XLAM_ROW

from advfc.checker import DecodeError, Verdict, check, decode
from advfc.data import Example, load_bfcl, load_bfcl_ids, load_examples_jsonl, load_openai_jsonl, load_xlam, validate_example
from advfc.errors import InputError
from advfc.io import append_jsonl, iter_jsonl, read_json, read_jsonl, repair_jsonl, write_jsonl
from advfc.prompts import fc_messages, gold_call_text
from advfc.split import load_split
from advfc.train_config import TrainConfig

# Files are written into one temp folder per test; hypothesis reruns the body many times.
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                           max_leaves=16)
records = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
# Bytes that look like JSONL more often than random bytes do: lines of JSON, junk and deep nesting.
jsonl_bytes = st.lists(
    st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=40),
              st.integers(60, 3000).map(lambda n: b"[" * n + b"]" * n), st.just(b"1" * 5000)),
    max_size=6,
).map(lambda lines: b"\n".join(lines))


def _reads(fn):
    """Run a reader; an InputError is a refusal, any other exception fails the test."""
    try:
        return fn()
    except InputError:
        return None


@PROPERTY
@given(raw=jsonl_bytes)
def test_jsonl_and_json_readers_refuse_only_with_input_errors(tmp_path, raw):
    path = tmp_path / "x.jsonl"
    path.write_bytes(raw)
    got = _reads(lambda: list(iter_jsonl(path)))
    assert got is None or all(isinstance(n, int) for n, _ in got)
    _reads(lambda: read_json(path))


@PROPERTY
@given(rows=st.lists(records, max_size=6))
def test_jsonl_round_trips(tmp_path, rows):
    write_jsonl(tmp_path / "x.jsonl", rows)
    assert read_jsonl(tmp_path / "x.jsonl") == rows


@PROPERTY
@given(batches=st.lists(st.lists(records, min_size=1, max_size=3), min_size=1, max_size=4), cut=st.floats(0, 1))
def test_a_kill_at_any_byte_repairs_to_the_whole_records_before_it(tmp_path, batches, cut):
    path = tmp_path / "log.jsonl"
    path.unlink(missing_ok=True)
    for batch in batches:
        append_jsonl(path, batch)
    raw = path.read_bytes()
    kept = raw[: int(cut * len(raw))]
    path.write_bytes(kept)
    n = repair_jsonl(path)
    flat = [r for batch in batches for r in batch]
    assert n == kept.count(b"\n") and read_jsonl(path) == flat[:n]


@PROPERTY
@given(raw=jsonl_bytes)
def test_repair_changes_a_file_only_if_it_is_a_log(tmp_path, raw):
    path = tmp_path / "x.jsonl"
    path.write_bytes(raw)
    try:
        repair_jsonl(path)
    except InputError:
        assert path.read_bytes() == raw, "a refused repair must leave the file as it was"
        return
    after = path.read_bytes()
    assert raw.startswith(after) and all(isinstance(r, dict) for r in read_jsonl(path))


FIELDS = list(TrainConfig.model_fields)
yaml_texts = st.one_of(
    st.text(max_size=200),
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), scalars | st.lists(scalars, max_size=3), max_size=4).map(
        lambda d: "\n".join(f"{k}: {json.dumps(v)}" for k, v in d.items())),
    st.lists(st.sampled_from(["a: &x [1, 2]", "b: *x", "<<: {c: 1}", "rounds: 1", "rounds: 2", "? [1]\n: 2", "- 1",
                              "seed: 1e50", "alpha: .nan", "model: !!python/object:os.system x", "{", "'"]),
             max_size=5).map("\n".join),
)


@PROPERTY
@given(text=yaml_texts)
def test_config_files_load_or_fail_with_an_input_error(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    config = _reads(lambda: TrainConfig.load(path))
    assert config is None or isinstance(config, TrainConfig)


def _paths(obj, prefix=()):
    yield prefix
    children = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in children:
        yield from _paths(value, prefix + (key,))


@st.composite
def mutations(draw, record):
    """A valid record with a few values replaced by arbitrary JSON or removed."""
    rec = copy.deepcopy(record)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(rec))[1:] or [()]))
        if not path:
            return draw(json_values)
        parent = rec
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return rec


def usable(examples: list[Example]) -> None:
    """What the game does with a loaded example must not fail."""
    for ex in examples:
        validate_example(ex)
        fc_messages(ex)
        assert isinstance(check(gold_call_text(ex), ex), Verdict)
        Example.from_dict(json.loads(json.dumps(ex.to_record())))


XLAM_DECODED = {**XLAM_ROW, "tools": json.loads(XLAM_ROW["tools"]), "answers": json.loads(XLAM_ROW["answers"])}
SIMPLE = load_bfcl_ids(["simple_python_0"])[0]


@PROPERTY
@given(rec=mutations(XLAM_DECODED) | mutations(XLAM_ROW))
def test_xlam_loader(tmp_path, rec):
    (tmp_path / "x.jsonl").write_text(json.dumps(rec) + "\n")
    usable(_reads(lambda: load_xlam(tmp_path / "x.jsonl")) or [])


@PROPERTY
@given(rec=mutations(OPENAI_ROW))
def test_openai_loader(tmp_path, rec):
    (tmp_path / "c.jsonl").write_text(json.dumps(rec) + "\n")
    usable(_reads(lambda: load_openai_jsonl(tmp_path / "c.jsonl")) or [])


@PROPERTY
@given(rec=mutations(SIMPLE.to_record()) | mutations(SIMPLE.to_dict()))
def test_own_export_loader(tmp_path, rec):
    (tmp_path / "e.jsonl").write_text(json.dumps(rec) + "\n")
    usable(_reads(lambda: load_examples_jsonl(tmp_path / "e.jsonl")) or [])


@PROPERTY
@given(question=mutations({"id": SIMPLE.id, "question": [SIMPLE.messages], "function": SIMPLE.tools}),
       answer=mutations({"id": SIMPLE.id, "ground_truth": SIMPLE.answers}))
def test_bfcl_loader(tmp_path, question, answer):
    (tmp_path / "possible_answer").mkdir(exist_ok=True)
    (tmp_path / "BFCL_v4_simple_python.json").write_text(json.dumps(question) + "\n")
    (tmp_path / "possible_answer" / "BFCL_v4_simple_python.json").write_text(json.dumps(answer) + "\n")
    usable(_reads(lambda: load_bfcl("simple_python", tmp_path)) or [])


@PROPERTY
@given(split=mutations({"train": {"live_simple": ["live_simple_0-0-0"]}, "eval": {"simple_python": ["simple_python_0"]}}))
def test_split_loader(tmp_path, split):
    (tmp_path / "s.json").write_text(json.dumps(split))
    loaded = _reads(lambda: load_split(tmp_path / "s.json"))
    assert loaded is None or all(isinstance(i, str) for i in loaded.train_ids() + loaded.eval_ids())


call_like = st.builds(
    lambda name, args, wrap: wrap.format(f"{name}({', '.join(args)})"),
    st.sampled_from(["calculate_triangle_area", "f", "a.b", "x", ""]),
    st.lists(st.builds("{}={}".format, st.sampled_from(["base", "height", "x", "**k"]),
                       st.sampled_from(["10", "5.0", "'s'", "[1, 2]", "{'a': 1}", "1+2", "2**99999", "-(-1)", "None",
                                        "lambda: 0", "f(x)", "[" * 50 + "]" * 50, "1e999", "'\\x00'", "(1,)"])),
             max_size=3),
    st.sampled_from(["[{0}]", "{0}", "[{0}, {0}]", "```python\n[{0}]\n```", "[{0}", "{0}]", "<tool_call>[{0}]</tool_call>"]),
)


@PROPERTY
@given(text=st.text(max_size=200) | call_like)
def test_checker_decodes_or_raises_decode_error_and_always_judges(text):
    try:
        assert isinstance(decode(text), list)
    except DecodeError:
        pass
    assert isinstance(check(text, SIMPLE), Verdict)
