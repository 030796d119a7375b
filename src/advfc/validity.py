"""The guard: is a rewritten query still answered by exactly the seed's gold call?

Deterministic rules (METHOD.md, "Validity"; docs/method.md lists each with its blind spots),
always on, plus an optional reference-model judge. A rejected rewrite records every reason, so
the validity rate and its causes can be reported every round and per rule.

1. values kept: every gold literal the original states survives, on word boundaries, in any
   common spelling (digits or number words, `5.0`, `2,500`, `2 500`, `500ml`); booleans and
   enums are followed through the words that express them;
2. values not contradicted: no negation or correction next to a gold value, no correction cue,
   no value moved next to another parameter's anchor word;
3. a request, in natural text: no code, call syntax, JSON, `key=value` lists, the gold call, an
   answer instead of a request, a switch of language, or a completion cut off at its budget;
4. changed, not bloated: not a near copy of the original, at most `max_length_ratio` as long;
5. irrelevance seeds stay irrelevant: the original's subject is kept and the rewrite moves no
   closer to what the listed tools do.

Rules are pure functions of the texts and the example (standard library only); the judge takes
any `Generator`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

from .data import Example, category_of_id, expects_no_call, load_bfcl, load_examples_jsonl
from .errors import InputError
from .generation import Generator, SamplingParams, build_generator
from .io import iter_jsonl, read_json
from .prompts import gold_call_text
from .query import parse_rewrite

VALID, UNPARSEABLE, INVALID = "valid", "unparseable", "invalid"
TRUNCATED = "truncated"


@dataclass(frozen=True)
class ValidityRules:
    max_similarity: float = 0.9
    max_length_ratio: float = 3.0


@dataclass(frozen=True)
class Validity:
    status: str
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def valid(self) -> bool:
        return self.status == VALID


def reason_class(reason: str) -> str:
    """A reason without its specifics (`drops value 10 of f.a` -> `drops value`), for tallies."""
    for prefix in _REASON_CLASSES:
        if reason.startswith(prefix):
            return prefix
    return reason.split(" (")[0]


# ----------------------------------------------------------------------------- words


_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as into onto about over under than then
    is are was were be been being am do does did doing have has had having i me my mine we us our you
    your yours he him his she her it its they them their this that these those there here what which
    who whom whose when where why how all any both each few more most other some such no nor not only
    own same so too very can could will would shall should may might must just also please kindly
    let let's lets want wanted need needed like would'd i'd i'm i've i'll it's that's what's whats
    know tell give get got make made go going use using used help find show one thing things some
    something anything everything way much many really quite bit lot maybe sure okay ok hi hello hey
    thanks thank now today currently right well""".split()
)
# Words every API description uses; sharing them says nothing about what a tool does.
GENERIC_API_WORDS = frozenset(
    """function functions tool tools api call calls return returns returned value values parameter
    parameters param params argument arguments default optional required given specified specific
    provided provide input output result results data information info details detail type types
    string integer number float boolean list array dict object field fields name names id ids
    format request requests response query user users retrieve retrieves get gets fetch fetches
    based e.g eg etc city place location people person thing""".split()
)


def words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def stem(word: str) -> str:
    """A crude stem: enough to see `weather`/`weathers` or `calculate`/`calculating` as one word."""
    for suffix in ("ingly", "ing", "edly", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)][:6]
    return word[:6]


def content_stems(text: str) -> set[str]:
    return {stem(w) for w in words(text) if len(w) > 2 and w not in STOPWORDS and not w.isdigit()}


def char_ngrams(text: str, n: int = 3) -> set[str]:
    text = " ".join(text.lower().split())
    return {text[i : i + n] for i in range(max(1, len(text) - n + 1))}


def similarity(a: str, b: str) -> float:
    """The larger of character-trigram Jaccard and difflib's ratio on the lowercased texts: the
    trigrams see shuffled copies, the ratio sees a short text with one word changed (few
    trigrams, so each change costs Jaccard a lot)."""
    x, y = char_ngrams(a), char_ngrams(b)
    jaccard = len(x & y) / len(x | y) if x | y else 1.0
    return max(jaccard, SequenceMatcher(None, " ".join(a.lower().split()), " ".join(b.lower().split()), autojunk=False).ratio())


def max_similarity(query: str, others: list[str]) -> float:
    return max((similarity(query, o) for o in others), default=0.0)


# ----------------------------------------------------------------------------- numbers in any spelling

_DIGITS = re.compile(
    r"(?<![^\W\d_])(?<![\d.,])(?P<sign>-)?(?P<int>\d{1,3}(?:(?P<sep>[,\u202f\u00a0 ])\d{3})(?:(?P=sep)\d{3})*|\d+)"
    r"(?P<frac>\.\d+)?(?P<unit>%|[^\W\d_]{1,4}\b)?"
)
# `4th grade` states no 4: a digit with an ordinal ending is a rank, not a quantity.
_RANK = re.compile(r"(?:st|nd|rd|th)", re.IGNORECASE)
_LEADING_POINT = re.compile(r"(?<![\w.])(-)?\.(\d+)\b")
_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_FRACTIONS = {"half": 0.5, "quarter": 0.25, "dozen": 12}


def _number_word(word: str) -> tuple[str, float] | None:
    """('unit'|'tens'|'scale', value) for one number word. Ordinals (fifth, 5th) are ranks, not
    quantities: `4th grade` states no 4."""
    if word in _UNITS:
        return "unit", _UNITS[word]
    if word in _TENS:
        return "tens", _TENS[word]
    if word in _SCALES:
        return "scale", _SCALES[word]
    return None


def _word_numbers(text: str) -> set[float]:
    """Numbers spelled as words: five, twenty-five, two thousand five hundred, a hundred and ten,
    minus three, two point five, half."""
    out: set[float] = set()
    tokens = re.findall(r"[a-z]+|[^a-z\s-]+", text.lower())  # digits and punctuation end a number
    i = 0
    while i < len(tokens):
        total, current, seen, j = 0.0, 0.0, False, i
        while j < len(tokens):
            word = tokens[j]
            kind = _number_word(word)
            if kind is None:
                after_scale = j > i and (_number_word(tokens[j - 1]) or ("", 0))[0] == "scale"
                if word == "and" and after_scale and j + 1 < len(tokens) and _number_word(tokens[j + 1]):
                    j += 1
                    continue
                if word == "a" and not seen and j + 1 < len(tokens) and tokens[j + 1] in _SCALES:
                    current, seen = 1.0, True
                    j += 1
                    continue
                break
            name, value = kind
            if name == "scale":
                current = (current or 1.0) * value
                if value >= 1000:
                    total, current = total + current, 0.0
            else:
                current += value
            seen = True
            j += 1
        if seen:
            number = total + current
            if j + 1 < len(tokens) and tokens[j] == "point" and tokens[j + 1] in _UNITS:
                decimals = ""
                k = j + 1
                while k < len(tokens) and tokens[k] in _UNITS and _UNITS[tokens[k]] < 10:
                    decimals += str(_UNITS[tokens[k]])
                    k += 1
                if decimals:
                    number = float(f"{int(number)}.{decimals}")
                j = k
            negative = i > 0 and tokens[i - 1] in ("minus", "negative")
            out.add(-number if negative else number)
            i = j
        else:
            if tokens[i] in _FRACTIONS:
                out.add(_FRACTIONS[tokens[i]])
            i += 1
    return out


def numbers_in(text: str) -> set[float]:
    """Every number the text states, in every reading of it: 1000, 1,000, 1 000, 2.50, .5, -3,
    500ml, 600s, 10%, 5k, five, twenty-five, two thousand five hundred (not ranks: 5th). A digit group
    split by a space (`2 500`) counts both as 2500 and as 2 and 500: a rule only asks whether a
    value is there, so an extra reading can never hide one."""
    out = set(_word_numbers(text))
    for m in _DIGITS.finditer(text):
        digits = m["int"]
        frac = m["frac"] or ""
        sign = -1.0 if m["sign"] and (m.start() == 0 or not text[m.start() - 1].isalnum()) else 1.0
        value = sign * float(re.sub(r"[,\u202f\u00a0 ]", "", digits) + frac)
        unit = (m["unit"] or "").lower()
        if _RANK.fullmatch(unit):
            continue
        out.add(value)
        if m["sep"] == " ":
            out.update(float(part) for part in digits.split(" "))
            out.add(float(digits.split(" ")[-1] + frac))
        if unit == "k":
            out.add(value * 1000)
        if unit == "%":
            out.add(value / 100)
    for m in _LEADING_POINT.finditer(text):
        out.add(float(f"{m[1] or ''}0.{m[2]}"))
    return out


# ----------------------------------------------------------------------------- the gold call's values


_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::00)?$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$|^(\d{2})/(\d{2})/(\d{4})$")  # ISO, or US MM/DD/YYYY
_ORDINAL_SUFFIX = r"(?:st|nd|rd|th)?"
_SEP = r"[\s,./\-_*^'’]*"


def _literal(value: str) -> str:
    """A string on word boundaries, BFCL's separators (` ,./-_*^`) optional between its parts and
    a plural ending allowed (`Sedan` -> `sedans`), so `New York` matches `new-york` but `NY` never
    matches inside `anywhere`."""
    parts = _WORD.findall(value)
    return _SEP.join(re.escape(p) for p in parts) + "(?:e?s)?" if parts else ""


def _time_forms(value: str) -> list[str]:
    """`09:00` is also `9:00`, `9 am`, `9 a.m.`, `9 o'clock`; `21:30` is also `9:30 pm`."""
    m = _TIME.match(value)
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        return []
    h24, mm = int(m[1]), m[2]
    h12, half = h24 % 12 or 12, "a\.?m\.?" if h24 < 12 else "p\.?m\.?"
    minutes = f"(?::{mm})?" if mm == "00" else f":{mm}"
    forms = [f"0?{h24}:{mm}", f"{h12}{minutes}\s*{half}"]
    if mm == "00":
        forms.append(f"{h12}\s*o['’]?clock")
    if h24 == 12 and mm == "00":
        forms.append("noon")
    return forms


def _date_forms(value: str) -> list[str]:
    """`2023-03-09` (or `03/09/2023`) is also `March 9th`, `9 March`, `Mar. 9`, `3/9`, `03/09/2023`."""
    m = _DATE.match(value)
    month, day = (int(m[2]), int(m[3])) if m and m[1] else (int(m[4]), int(m[5])) if m else (0, 0)
    if not 1 <= month <= 12:
        return []
    name = _MONTHS[month - 1]
    names = f"(?:{name}|{name[:3]}\.?)"
    return [re.escape(value), f"{names}\s+0?{day}{_ORDINAL_SUFFIX}(?![\d])", f"0?{day}{_ORDINAL_SUFFIX}\s+(?:of\s+)?{names}",
            f"0?{month}/0?{day}(?:/\d{{2,4}})?(?![\d])"]


def _patterns(sources: list[str]) -> tuple[re.Pattern, ...]:
    """Word boundaries, and number boundaries: `8` is not found in `8.5` or `1,800`."""
    return tuple(re.compile(rf"(?<![^\W_])(?<!\d[.,])(?:{src})(?![^\W_])(?![.,]\d)", re.IGNORECASE)
                 for src in dict.fromkeys(sources) if src)


_US_STATES = dict(zip(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR "
    "PA RI SC SD TN TX UT VT VA WA WV WI WY DC".split(),
    ["Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware", "Florida",
     "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky", "Louisiana", "Maine",
     "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi", "Missouri", "Montana", "Nebraska", "Nevada",
     "New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina", "North Dakota", "Ohio", "Oklahoma",
     "Oregon", "Pennsylvania", "Rhode Island", "South Carolina", "South Dakota", "Tennessee", "Texas", "Utah",
     "Vermont", "Virginia", "Washington", "West Virginia", "Wisconsin", "Wyoming", "District of Columbia"],
))


def _spellings(text: str) -> list[str]:
    """A plain text value and its other names: a US state code is also the state (`NY`, `New York`)."""
    name = _US_STATES.get(text.strip())
    return [_literal(text)] + ([_literal(name)] if name else [])


@lru_cache(maxsize=8192)
def whole_forms(value: str) -> tuple[re.Pattern, ...]:
    """The spellings of a whole string value: itself (a state code also as the state), and the
    usual ways to write a time or a date."""
    return _patterns([*_spellings(value), *_time_forms(value.strip()), *_date_forms(value.strip())])


@lru_cache(maxsize=8192)
def part_forms(value: str) -> tuple[re.Pattern, ...]:
    """The parts of a comma list, each of which states the value (`New York, NY` as `New York`)."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return _patterns([form for p in parts for form in _spellings(p)]) if len(parts) > 1 else ()


def value_forms(value: str) -> tuple[re.Pattern, ...]:
    return whole_forms(value) + part_forms(value)


def value_spans(value, text: str) -> list[tuple[int, int]]:
    """Where a string value, in any of its spellings, occurs in the text."""
    patterns = value_forms(value) if isinstance(value, str) else ()
    return [m.span() for p in patterns for m in p.finditer(text)]


def _as_bool(value) -> bool | None:
    """BFCL's live data holds some booleans as strings ("True")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def appears(value, text: str, text_numbers: set[float]) -> bool:
    if _as_bool(value) is not None or value is None or value == "":
        return False
    if isinstance(value, (int, float)):
        return any(abs(float(value) - n) <= 1e-9 * max(1.0, abs(n)) for n in text_numbers)
    if isinstance(value, str):
        if value.strip() and not _WORD.search(value):
            return value.strip() in text
        if value_spans(value, text):
            return True
        try:  # a number held as a string ("5") may be written in words too
            return float(value) in text_numbers
        except ValueError:
            return False
    return False


def stated_forms(alternatives: list, original: str) -> tuple[re.Pattern, ...]:
    """The spellings of a group's string values that the original query uses: a rewrite must keep
    one of them (or state a whole alternative), so `Tel Aviv, Israel` stated as `Tel Aviv` cannot
    be kept as `Israel` alone."""
    return tuple(p for v in alternatives if isinstance(v, str) for p in value_forms(v) if p.search(original))


def kept(alternatives: list, original: str, query: str, query_numbers: set[float]) -> bool:
    """A stated value survives: a number in any spelling, a whole string value in any spelling,
    or the same part of a comma-list value that the original used."""
    strings = [v for v in alternatives if isinstance(v, str)]
    return (
        any(not isinstance(v, str) and appears(v, query, query_numbers) for v in alternatives)
        or any(p.search(query) for p in stated_forms(strings, original))
        or any(p.search(query) for v in strings for p in whole_forms(v))
        or any(not _WORD.search(v) and v.strip() and v.strip() in query for v in strings)
    )


_FIELD = r"[a-z_]{2,}:(?![/\\])"  # a search-syntax field prefix (`track:`), not a URL, a drive or `HH:MM`
_FIELDS = re.compile(rf"\s*(?:{_FIELD}\S.*?\s*)+")
_FIELD_PARTS = re.compile(rf"({_FIELD})(.+?)(?=\s+{_FIELD}|\s*$)")


def search_fields(value: str) -> list[tuple[str, str]]:
    """A value in search syntax, `track:Friends artist:Marshmello`, as its fields: the original says
    `'Friends' by Marshmello`, never the whole string, and each field is a value to keep."""
    if not _FIELDS.fullmatch(value):
        return []
    return [(key[:-1], re.sub(r"\s+(?:OR|AND)$", "", text.strip())) for key, text in _FIELD_PARTS.findall(value)]


def _literal_groups(label: str, accepted: list, *, optional: bool = False) -> list[tuple[str, list]]:
    """Groups of interchangeable scalar alternatives inside one possible-answer list; dict values
    ({key: [values]}) and list elements give one group per key / position. A value the gold call
    may omit ("" accepted) need not survive: the call without it still answers the rewrite; but
    it may not be contradicted either (`optional=True` keeps those groups)."""
    if "" in accepted and not optional:
        return []
    accepted = [v for v in accepted if v != ""]
    alternatives = list(accepted)
    scalars = [v for v in alternatives if not isinstance(v, (list, dict)) and _as_bool(v) is None]
    fields = search_fields(scalars[0]) if len(scalars) == 1 and isinstance(scalars[0], str) else []
    groups = [(f"{label}[{key}]", [text]) for key, text in fields] or ([(label, scalars)] if scalars else [])
    structured = next((v for v in alternatives if isinstance(v, (list, dict))), None)
    if isinstance(structured, dict):
        for key, sub in structured.items():
            groups += _literal_groups(f"{label}.{key}", sub if isinstance(sub, list) else [sub], optional=optional)
    elif isinstance(structured, list):
        for i, item in enumerate(structured):
            groups += _literal_groups(f"{label}[{i}]", [item], optional=optional)
    return groups


def _gold_params(example: Example):
    for answer in example.answers:
        ((name, params),) = answer.items()
        for pname, accepted in params.items():
            yield name, pname, accepted


def preserved_literals(example: Example) -> list[tuple[str, list]]:
    """(parameter, acceptable alternatives) for every gold literal the original query states: a
    rewrite may use any spelling BFCL accepts, but must keep every value that was stated."""
    nums = numbers_in(example.query)
    groups = []
    for name, pname, accepted in _gold_params(example):
        groups += _literal_groups(f"{name}.{pname}", accepted)
    return [(label, alts) for label, alts in groups if any(appears(v, example.query, nums) for v in alts)]


# ----------------------------------------------------------------------------- booleans and enums

_NEGATOR = re.compile(
    r"\b(?:not|no|never|without|nor|except|excluding|exclude|skip|skipping|omit|omitting|neither|ignore|ignoring|"
    r"disregard|disregarding|instead\s+of|rather\s+than|other\s+than|anything\s+but|but\s+not|apart\s+from|"
    r"(?:leave|leaving|left)\s+out)\b|n['’]t\b",
    re.IGNORECASE,
)
_ANTONYMS = {
    "include": "exclude", "enable": "disable", "enabled": "disabled", "show": "hide", "visible": "hidden",
    "ascending": "descending", "asc": "desc", "allow": "deny", "on": "off", "with": "without", "public": "private",
    "active": "inactive", "true": "false", "open": "closed", "available": "unavailable", "strict": "lenient",
    "before": "after", "min": "max", "minimum": "maximum", "increase": "decrease", "upper": "lower",
}
_ANTONYMS.update({v: k for k, v in list(_ANTONYMS.items())})
_NEGATING_PREFIXES = ("un", "non", "non-", "in", "im", "dis", "de")
_GENERIC_FLAG_WORDS = frozenset({"is", "has", "get", "set", "use", "should", "flag", "value", "mode", "option", "do", "the", "and", "for"})


def _split_identifier(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.split(".")[-1])
    return [w.lower() for w in re.split(r"[\W_]+", spaced) if w]


def _flag_cues(pname: str) -> list[str]:
    return [w for w in _split_identifier(pname) if len(w) >= 3 and w not in _GENERIC_FLAG_WORDS]


def _polarities(cue: str, text: str) -> set[bool]:
    """How the text uses a flag's cue word (any inflection: `avoid`, `avoided`): True where it is
    affirmed, False where it is negated (`unaligned`, `not aligned`, `don't include`, `without`,
    or the cue's antonym: `exclude`, `descending`)."""
    found = set()
    lowered = text.lower()
    base = stem(cue)
    for m in re.finditer(rf"(?<![^\W_])(?P<pre>{'|'.join(_NEGATING_PREFIXES)})?{re.escape(base)}[a-z]{{0,8}}(?![^\W_])", lowered):
        before = _left_words(lowered, m.start(), 4)  # `exclude any that are completed`
        negated = bool(m["pre"]) or bool(_NEGATOR.search(" ".join(before)))
        found.add(not negated)
    antonym = _ANTONYMS.get(cue)
    if antonym and re.search(rf"(?<![^\W_]){re.escape(antonym)}(?![^\W_])", lowered):
        found.add(False)
    return found


def boolean_problems(query: str, example: Example) -> list[str]:
    """A gold boolean is followed through its parameter's words: a rewrite may not flip any of
    them (`aligned` -> `unaligned`, `include` -> `don't include` / `exclude`), and where the
    original states a required flag, at least one of its words must stay."""
    problems = []
    original = example.query
    flags = [(name, pname, accepted) for name, pname, accepted in _gold_params(example)
             if any(_as_bool(v) is not None for v in accepted)]
    for name, pname, accepted in flags:
        values = {b for b in map(_as_bool, accepted) if b is not None}
        # A cue shared with another flag of the call (`include` in include_tasks and
        # include_financials) cannot tell which one survived; the distinctive ones can.
        others = {c for n, p, _ in flags if (n, p) != (name, pname) for c in _flag_cues(p)}
        cues = _flag_cues(pname)
        distinctive = [c for c in cues if c not in others] or cues
        stated, survived, flipped = False, False, None
        for cue in cues:
            before, after = _polarities(cue, original), _polarities(cue, query)
            expected = before or ({next(iter(values))} if len(values) == 1 else set())
            if expected and after - expected:
                flipped = cue
                break
            if cue in distinctive:
                stated |= bool(before)
                survived |= bool(before and after)
        if flipped:
            problems.append(f"flips boolean {name}.{pname} ({flipped!r})")
        elif stated and not survived and "" not in accepted:
            problems.append(f"drops boolean {name}.{pname}")
    return problems


def _enum_options(example: Example) -> list[tuple[str, list[str], list]]:
    tools = {t.get("name"): t for t in example.tools}
    out = []
    for name, pname, accepted in _gold_params(example):
        props = ((tools.get(name) or {}).get("parameters") or {}).get("properties") or {}
        enum = (props.get(pname) or {}).get("enum")
        if isinstance(enum, list) and all(isinstance(o, str) for o in enum):
            out.append((f"{name}.{pname}", enum, accepted))
    return out


def enum_problems(query: str, example: Example) -> list[str]:
    """A rewrite that names another option of an enum parameter than the original did, without
    the gold one, switches the value (`celsius` -> `fahrenheit`); and a word that expresses a gold
    value in the original (`ascending` for `asc`) may not turn into its antonym (`descending`),
    even where the gold value may be omitted (it is then the default the rewrite contradicts)."""
    problems = []
    original, q_words, o_words = example.query, set(words(query)), set(words(example.query))
    for label, options, accepted in _enum_options(example):
        if any(isinstance(v, str) and v and value_spans(v, query) for v in accepted):
            continue
        for option in options:
            if option in accepted or len(option) < 3:
                continue
            pattern = re.compile(rf"(?<![^\W_]){re.escape(option)}", re.IGNORECASE)
            if pattern.search(query) and not pattern.search(original):
                problems.append(f"names another option {option!r} of {label}")
                break
    for name, pname, accepted in _gold_params(example):
        values = [v.lower() for v in accepted if isinstance(v, str) and len(v) >= 3]
        expressing = {w for w in o_words for v in values if w.startswith(v)}
        for w in sorted(expressing):
            antonym = _ANTONYMS.get(w)
            if antonym and antonym in q_words and antonym not in o_words:
                problems.append(f"names another option {antonym!r} of {name}.{pname}")
                break
    return problems


# ----------------------------------------------------------------------------- contradictions

_CORRECTION = re.compile(
    r"\b(?:no,?\s+wait|wait,?\s+no|scratch\s+that|on\s+second\s+thought|i\s+meant?\b|correction\b|or\s+rather|"
    r"actually,?\s+(?:make|change|use|switch|let['’]?s|no\b|i\s+mean)|"
    r"(?:make|change|switch|set)\s+(?:it|that|this)\s+to\b|make\s+(?:it|that)\s+(?:\S+\s+){1,3}instead\b|"
    r"no,?\s+(?:\S+\s+){0,4}instead\b|instead\b(?!\s+of)|make\s+that\b|[-–—,;]\s*no,?\s+(?=[$€£]?\d))",
    re.IGNORECASE,
)


def _stated_values(example: Example) -> list[tuple[str, object]]:
    """(parameter label, value) for every gold literal the original query states, optional ones
    included (`in US` for an optional region may not become `not from the US`)."""
    nums = numbers_in(example.query)
    groups = [g for name, pname, accepted in _gold_params(example)
              for g in _literal_groups(f"{name}.{pname}", accepted, optional=True)]
    return [(label, v) for label, alts in groups for v in alts if appears(v, example.query, nums)]


def _value_occurrences(value, text: str) -> list[tuple[int, int]]:
    if isinstance(value, str):
        return value_spans(value, text)
    spans = []
    for m in _DIGITS.finditer(text):
        token = re.sub(r"[,\u202f\u00a0 ]", "", m["int"]) + (m["frac"] or "")
        if float(token) == float(value) or abs(float(token)) == abs(float(value)):
            spans.append(m.span())
    return spans


def _left_words(text: str, start: int, n: int) -> list[str]:
    """Up to n words right before `start`, not reaching back past punctuation (`base, 5`: none)."""
    window = re.split(r"[,;:.!?()\[\]]", text[max(0, start - 60) : start])[-1]
    return words(window)[-n:]


def contradiction_problems(query: str, example: Example) -> list[str]:
    """Rule 2: a gold value negated where it occurs (`not in Boston`, `anything except Paris`,
    `instead of 5`), a correction cue the original did not have (`actually make it 900`,
    `X, no, Y instead`), or a value moved next to the word that anchored another parameter's
    value in the original (`from 10 to 20` -> `from 20 to 10`)."""
    problems = []
    original = example.query
    stated = _stated_values(example)
    for label, value in stated:
        for start, _ in _value_occurrences(value, query):
            left = " ".join(_left_words(query, start, 3))
            if _NEGATOR.search(left) and not any(
                _NEGATOR.search(" ".join(_left_words(original, s, 3))) for s, _ in _value_occurrences(value, original)
            ):
                problems.append(f"negates value {value!r} of {label}")
                break
    if _CORRECTION.search(query) and not _CORRECTION.search(original):
        problems.append(f"contains a correction ({_CORRECTION.search(query).group(0).strip()!r})")
    problems += _moved_values(query, stated, original)
    return problems


_ANCHOR_STOP = frozenset({"a", "an", "the", "and", "or", "of", "is", "are", "was", "be", "it", "its", "with", "at", "in", "on",
                          "i", "my", "me", "you", "your", "we", "our", "they", "their", "he", "she", "his", "her"})


# Words that lead the next value, not trail this one (`English to French`: `to` is French's;
# `5 and a height of 10`: what follows `and` is 10's).
_LEADS = frozenset({"to", "from", "for", "by", "into", "onto", "until", "till", "via", "than", "per", "then", "and", "or",
                    "but", "while", "with"})


def _trailing_cue(trailing: list[str]) -> list[str]:
    """The first content word after a value, unless a word that leads the next value comes first."""
    for w in trailing:
        if w in _LEADS:
            return []
        if w not in _ANCHOR_STOP and w != "as":
            return [w]
    return []


def _anchors(value, text: str, value_words: set[str], value_spans: list[tuple[int, int]], *, right: bool = True) -> set[str]:
    """The content words within three words before each occurrence of a value (in its clause,
    after the value before it) and the word right after it: its parameter's cue (`from 10`,
    `a base of 10`, `the capital city of Australia`, `5 Tesla`), stemmed. Value words are not
    cues. The word after a value only shows that a value kept its place (`5 Tesla field`); it
    may describe the whole phrase (`$300,000 to $400,000 budget`), so no other value takes it."""
    out = set()
    value_starts = [st for st, _ in value_spans]
    for start, end in _value_occurrences(value, text):
        floor = max((e for _, e in value_spans if e <= start), default=0)
        left = _left_words(text[floor:], start - floor, 3)
        ceiling = min((st for st in value_starts if st >= end), default=len(text))
        trailing = words(re.split(r"[,;:.!?()\[\]]", text[end : min(ceiling, end + 40)])[0])[:3]
        after = _trailing_cue(trailing) if right else []
        out.update(stem(w) for w in left + after if w not in _ANCHOR_STOP and w not in value_words)
    return out


def _kind(value) -> str:
    """What a value is, for swaps: only values of one kind can stand in each other's place."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number"
    if isinstance(value, str):
        return "time" if _TIME.match(value.strip()) else "date" if _DATE.match(value.strip()) else "text"
    return "other"


def _moved_values(query: str, stated: list[tuple[str, object]], original: str) -> list[str]:
    """Two values of one kind (numbers, times, dates or other text) that traded places: one now
    stands by the other's cue words and neither kept its own (`from 10 to 20` -> `from 20 to 10`,
    `directed by X, starring Y` -> `starring X, directed by Y`). Cues both values share say
    nothing and are ignored."""
    problems = []
    value_words = {w for _, value in stated for w in words(str(value))}
    spans = [sorted(span for _, value in stated for span in _value_occurrences(value, text)) for text in (original, query)]
    for kind in ("number", "time", "date", "text"):
        values = {}
        for label, value in stated:
            if _kind(value) == kind:
                values.setdefault(repr(value), (label, value))
        if len(values) < 2:
            continue
        before = {key: _anchors(value, original, value_words, spans[0]) for key, (_, value) in values.items()}
        shared = {a for key in before for a in before[key] if sum(a in other for other in before.values()) > 1}
        own = {key: anchors - shared for key, anchors in before.items()}
        own_left = {key: _anchors(value, original, value_words, spans[0], right=False) & own[key] for key, (_, value) in values.items()}
        now = {key: _anchors(value, query, value_words, spans[1]) - shared for key, (_, value) in values.items()}
        now_left = {key: _anchors(value, query, value_words, spans[1], right=False) - shared for key, (_, value) in values.items()}
        for a in values:
            for b in values:
                taken = now_left[a] & own_left[b]
                if a != b and own[a] and taken and not now[a] & own[a] and not now[b] & own[b]:
                    label, value = values[a]
                    problems.append(f"moves value {value!r} of {label} next to {sorted(taken)[0]!r}")
                    break
    return problems


# ----------------------------------------------------------------------------- natural text

_CODE_CALL = re.compile(r"(?<![\w.])[A-Za-z_][\w.]*\((?!s\))")
_TAG = re.compile(r"<\s*/?\s*(?:tool_?call|function_?call|toolcall|functions?|invoke)\b", re.IGNORECASE)
_JSON_OBJECT = re.compile(r"\{\s*[\"']?[A-Za-z_][\w ]*[\"']?\s*:")
_KEY_VALUE = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\s*=\s*[^\s=]")
_KEY_COLON = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\s*:\s*[^\s/]")
_ANSWER_OPENING = re.compile(
    r"^\W*(?:sure\b|certainly\b|of\s+course\b|absolutely\b|okay,?\s+here\b|ok,?\s+here\b|here\s+(?:is|are)\b|here['’]s\b|"
    r"i\s+(?:have|['’]ve)\s+(?:called|found|calculated|computed|retrieved|booked|sent|run|executed|checked|looked)\b|"
    r"i\s+(?:will|['’]ll)\s+(?:now\s+)?(?:call|use|run|invoke|execute)\b|calling\b|the\s+(?:answer|result|output|function\s+call)\b|"
    r"as\s+an\s+ai\b|i['’]?m\s+sorry\b|i\s+am\s+sorry\b|sorry,?\s+(?:but\s+)?i\b|i\s+cannot\b|"
    r"i\s+(?:can['’]?t|don['’]?t|do\s+not)\s+(?:help|do|assist|have\s+access)\b|unfortunately\b|"
    r"great\s+question\b|rewritten\s+request\b|request\s*:|done\b|all\s+set\b|"
    r"i\s+(?:have|['’]ve)\s+(?:now\s+)?(?:turned|set|added|removed|deleted|created|updated|changed|scheduled|made|"
    r"finished|completed|ordered|played|started|stopped|cancelled|canceled|reserved|transferred|moved)\b)",
    re.IGNORECASE,
)
_REQUEST_CUE = re.compile(
    r"\?|\b(?:please|pls|can|could|would|will|want|wanna|need|like|help|tell|show|let|find|get|give|calculate|compute|check|"
    r"look|search|book|send|set|create|make|fetch|list|convert|determine|what|how|which|who|when|where|why|do|does|"
    r"retrieve|add|update|delete|remove|play|order|schedule|plan|identify|provide|generate|estimate|predict|translate|"
    r"run|start|stop|open|close|turn|switch|buy|sell|reserve|call|email|text|write|draw|plot|solve|evaluate|analy[sz]e|"
    r"compare|count|sort|filter|recommend|suggest|locate|track|monitor|measure|record|save|download|upload|post|share|"
    r"subscribe|cancel|register|sign|log|pay|transfer|invest|rent|hire|apply|submit|request|ask|wonder|wondering|"
    r"curious|looking|trying|hoping|interested|mind|must|should|go|take|bring|put|pick|choose|select|fill|enter|"
    r"display|print|return|read|view|see|watch|listen|hear|learn|know|understand|explain|describe|define|summari[sz]e|"
    r"mood|prefer|craving|keen|after|seeking|seek|require|requires|figure|work|obtain|grab|pull|predict|forecast|"
    r"assess|rate|rank|review|verify|confirm|test|try|simulate|model|optimi[sz]e|recommend)\b",
    re.IGNORECASE,
)


_COPULA = re.compile(r"\b(?:is|are|was|were|has|have|had|gives|gave|makes|equals|comes\s+to|came\s+to)\b", re.IGNORECASE)
# A statement about a result opens with its subject: "The weather in Boston is sunny."
_SUBJECT = r"the|it|its|this|that|these|those|there|your"
_STATEMENT = re.compile(rf"^\W*(?:{_SUBJECT})\b[^?]*\b(?:is|are|was|were|has|have|had|will\s+be|equals?|came\s+to)\b",
                        re.IGNORECASE)
# ...or tells what happened: "The trip started at a hotel in New York."
_NARRATION = re.compile(rf"^\W*(?:{_SUBJECT}|i|we|my|our)\b[^?]*\b\w{{3,}}ed\b", re.IGNORECASE)


def _latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 1.0
    return sum("LATIN" in unicodedata.name(c, "") for c in letters) / len(letters)


def _param_names(example: Example) -> set[str]:
    names = set()
    for tool in example.tools:
        names.update((tool.get("parameters") or {}).get("properties") or {})
    return {n.lower() for n in names}


def form_problems(query: str, example: Example, gold_call: str) -> list[str]:
    """Rule 3: the rewrite is a user's request in natural language, not code or an answer."""
    problems = []
    original = example.query

    def new(pattern: re.Pattern) -> bool:
        return bool(pattern.search(query)) and not pattern.search(original)

    if "```" in query:
        problems.append("contains a code fence")
    names = [t["name"] for t in example.tools if t.get("name")]
    tool_call = re.compile(rf"(?<![\w.])(?:{'|'.join(re.escape(n) for n in names)})\s*\(") if names else None
    if new(_CODE_CALL) or new(_TAG) or (tool_call is not None and new(tool_call)):
        problems.append("contains call syntax")
    if new(_JSON_OBJECT):
        problems.append("contains a JSON object")
    params = _param_names(example)
    keyed = {m.group(1).lower() for m in _KEY_VALUE.finditer(query)} - {m.group(1).lower() for m in _KEY_VALUE.finditer(original)}
    colon = {m.group(1).lower() for m in _KEY_COLON.finditer(query)} & params
    colon -= {m.group(1).lower() for m in _KEY_COLON.finditer(original)}
    if keyed & params or len(keyed) >= 2 or len(colon) >= 2:
        problems.append("contains an argument list (key=value)")
    gold_body = gold_call.strip("[]")
    if gold_body and gold_body in query:
        problems.append("contains the gold call verbatim")
    if _ANSWER_OPENING.search(query) and not _ANSWER_OPENING.search(original):
        problems.append("answers instead of asking")
    elif not _REQUEST_CUE.search(query) and (_STATEMENT.search(query) or _COPULA.search(query) or _NARRATION.search(query)
                                             or (len(query.split()) <= 3 and _REQUEST_CUE.search(original))):
        # A statement ("The trip started at a hotel in New York") or a bare fragment ("Wo noor.")
        # where the user asked for something: what F should do is no longer said.
        problems.append("states no request")
    if abs(_latin_share(query) - _latin_share(original)) > 0.5:
        problems.append("changes language")
    return problems


# ----------------------------------------------------------------------------- irrelevance seeds


def tool_names(example: Example) -> set[str]:
    names = set()
    for tool in example.tools:
        full = tool["name"]
        names.update({full.lower(), full.split(".")[-1].lower()})
    return {n for n in names if len(n) >= 4}


def _schema_text(schema) -> list[str]:
    if not isinstance(schema, dict):
        return []
    out = [str(schema.get("description", ""))]
    for pname, sub in (schema.get("properties") or {}).items():
        out += [" ".join(_split_identifier(pname)), *_schema_text(sub)]
    out += _schema_text(schema.get("items"))
    return out


def tool_vocabulary(example: Example) -> set[str]:
    """Stems of what the listed tools are about: their names, descriptions and parameters."""
    texts = []
    for tool in example.tools:
        texts += [" ".join(_split_identifier(str(tool.get("name", "")))), str(tool.get("description", ""))]
        texts += _schema_text(tool.get("parameters"))
    stems = content_stems(" ".join(texts))
    return stems - {stem(w) for w in GENERIC_API_WORDS}


def _entities(text: str) -> set[str]:
    """Named entities, roughly: capitalised words not opening a sentence, and numbers."""
    out = set()
    for m in re.finditer(r"(?<![.!?]\s)(?<!^)\b([A-Z][\w'’-]+)", text.strip()):
        if m.group(1).lower() not in STOPWORDS:
            out.add(m.group(1).lower())
    out.update(str(n) for n in _digit_numbers(text))
    return out


def _digit_numbers(text: str) -> set[float]:
    """Every number written with digits, ranks included (`the 20th`): a subject, not a quantity."""
    return {float(x) for x in re.findall(r"\d+(?:\.\d+)?", text.replace(",", ""))}


_ADDITIVE = re.compile(
    r"\b(?:also|too|as\s+well|additionally|plus|in\s+addition|another|and\s+then|then\s+(?:do|find|get|check|tell|show|look))\b",
    re.IGNORECASE,
)


def extra_request_problems(query: str, example: Example) -> list[str]:
    """A second request the tools would serve: after an additive cue the original did not have
    (`also`, `too`, `and then`, `as well`), the rewrite brings in what the tools are about
    (their vocabulary) or a new named entity or number next to the gold values (`USD to AUD,
    USD to CAD, and also USD to JPY`). The gold call is then no longer the complete answer."""
    original = example.query
    cues = [m for m in _ADDITIVE.finditer(query)]
    if not cues or len(cues) <= len(_ADDITIVE.findall(original)):
        return []
    tail = query[cues[0].start():]
    vocabulary = tool_vocabulary(example) - content_stems(original)
    gained = sorted(content_stems(tail) & vocabulary)
    if gained:
        return [f"adds a request ({gained[0]!r} after {cues[0].group(0)!r})"]
    entities = sorted(_entities(tail) - _entities(original) - {w for w in words(original)})
    if entities:
        return [f"adds a request ({entities[0]!r} after {cues[0].group(0)!r})"]
    return []


def irrelevance_problems(query: str, example: Example) -> list[str]:
    """Rule 5: no tool named, the original's subject kept, and no more of the tools' vocabulary
    than the original had: a rewrite that a listed tool can serve would pay Q for making F right."""
    problems = []
    lowered = query.lower()
    named = sorted(n for n in tool_names(example) if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", lowered))
    if named:
        problems.append(f"names a tool ({named[0]}) in an irrelevance rewrite")
    original = example.query
    entities = _entities(original)
    if entities:
        here = {e for e in entities if re.search(rf"(?<![^\W_]){re.escape(e)}(?![^\W_])", lowered)}
        here |= {str(n) for n in numbers_in(query) | _digit_numbers(query)} & entities
        if len(here) < len(entities) / 2:
            problems.append(f"drops the subject ({sorted(entities - here)[0]!r})")
    subject = content_stems(original)
    if subject and not entities and len(subject & content_stems(query)) < max(1, len(subject) // 3):
        problems.append("drops the subject (content words)")
    vocabulary = tool_vocabulary(example)
    gained = (content_stems(query) & vocabulary) - content_stems(original)
    if len(content_stems(query) & vocabulary) > len(subject & vocabulary) and gained:
        problems.append(f"moves toward the tools ({sorted(gained)[0]!r})")
    return problems


# ----------------------------------------------------------------------------- the guard


def check_rewrite(
    query: str | None,
    example: Example,
    *,
    rules: ValidityRules = ValidityRules(),
    truncated: bool = False,
) -> Validity:
    """Apply every rule to a parsed rewrite (None = the output held no query). `truncated`: the
    completion stopped at its token budget, so whatever it says, it is not a finished request."""
    if query is None or not query.strip():
        return Validity(UNPARSEABLE, ("no query in the output",) + ((TRUNCATED,) if truncated else ()))
    reasons = [TRUNCATED] if truncated else []
    original = example.query
    nums = numbers_in(query)
    for param, alternatives in preserved_literals(example):
        if not kept(alternatives, original, query, nums):
            reasons.append(f"drops value {alternatives[0]!r} of {param}")
    reasons += boolean_problems(query, example)
    reasons += enum_problems(query, example)
    reasons += contradiction_problems(query, example)
    reasons += form_problems(query, example, gold_call_text(example))
    sim = similarity(query, original)
    if sim >= rules.max_similarity:
        reasons.append(f"too similar to the original ({sim:.2f} >= {rules.max_similarity})")
    if len(query) > rules.max_length_ratio * max(len(original), 1):
        reasons.append(f"longer than {rules.max_length_ratio:g}x the original")
    if expects_no_call(example.category):
        reasons += irrelevance_problems(query, example)
    else:
        reasons += extra_request_problems(query, example)
    return Validity(INVALID, tuple(reasons)) if reasons else Validity(VALID)


_REASON_CLASSES = (
    TRUNCATED, "no query in the output", "drops value", "flips boolean", "drops boolean", "names another option",
    "negates value", "contains a correction", "moves value", "contains a code fence", "contains call syntax",
    "contains a JSON object", "contains an argument list", "contains the gold call verbatim", "answers instead of asking",
    "states no request", "changes language", "too similar to the original", "longer than", "names a tool",
    "drops the subject", "moves toward the tools", "adds a request", "judge",
)


# ----------------------------------------------------------------------------- the optional judge

_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
# Qwen3-style templates think unless told not to; other templates ignore the variable.
JUDGE_TEMPLATE_KWARGS = {"enable_thinking": False}


def parse_yes_no(text: str) -> bool | None:
    """The judge's answer: the first standalone yes/no outside any <think> block (None: neither)."""
    m = _YES_NO.search(_THINK.sub(" ", text or ""))
    return None if m is None else m.group(1).lower() == "yes"


def _tool_list(example: Example) -> str:
    return "\n".join(f"- {t.get('name')}: {str(t.get('description', ''))[:200]}" for t in example.tools)


def judge_messages(example: Example, query: str) -> list[dict]:
    if expects_no_call(example.category):
        question = (
            f"Tools:\n{_tool_list(example)}\n\nOriginal request: {example.query}\nRewritten request: {query}\n\n"
            "Does the rewritten request ask about the same thing as the original, and can none of the tools "
            "answer it? Answer yes or no."
        )
    else:
        question = (
            f"Tools:\n{_tool_list(example)}\n\nOriginal request: {example.query}\nRewritten request: {query}\n"
            f"Correct call for the original: {gold_call_text(example)}\n\n"
            "Is exactly this call, with the same argument values, still the complete and correct answer to the "
            "rewritten request? Answer yes or no."
        )
    return [
        {"role": "system", "content": "You check rewritten requests to a function-calling assistant. Reply with one word: yes or no."},
        {"role": "user", "content": question},
    ]


class Judge:
    """Optional reference-model check that a rewrite asks for the same call (or, for an
    irrelevance seed, stays on its subject and out of the tools' reach). A reply with neither
    yes nor no counts as disagreement: the guard never accepts on a non-answer. The generator
    should render chats with thinking off (`JUDGE_TEMPLATE_KWARGS`)."""

    def __init__(self, generator: Generator, max_new_tokens: int = 8):
        self.generator = generator
        self.max_new_tokens = max_new_tokens

    def agrees(self, pairs: list[tuple[Example, str]]) -> list[bool]:
        if not pairs:
            return []
        replies = self.generator.generate([judge_messages(ex, q) for ex, q in pairs],
                                          SamplingParams(max_new_tokens=self.max_new_tokens))
        return [parse_yes_no(r[0].text) is True for r in replies]


def build_judge(spec: str, *, batch_size: int = 8) -> Judge:
    """The judge on any model spec (folder, hub id, endpoint), rendering chats with thinking off."""
    return Judge(build_generator(spec, "auto", batch_size=batch_size, chat_template_kwargs=JUDGE_TEMPLATE_KWARGS))


def guard(queries: list[str | None], seeds: list[Example], *, rules: ValidityRules = ValidityRules(),
          truncated: list[bool] | None = None, judge: Judge | None = None) -> list[Validity]:
    """The guard on a batch: the rules on every rewrite, then the judge (when given) on the
    rewrites the rules passed, in one generation call."""
    truncated = truncated or [False] * len(queries)
    verdicts = [check_rewrite(q, ex, rules=rules, truncated=t) for q, ex, t in zip(queries, seeds, truncated, strict=True)]
    if judge is not None:
        todo = [i for i, v in enumerate(verdicts) if v.valid]
        for i, ok in zip(todo, judge.agrees([(seeds[i], queries[i]) for i in todo])):
            if not ok:
                verdicts[i] = Validity(INVALID, ("judge: not the same call",))
    return verdicts


# ----------------------------------------------------------------------------- `advfc validate`


@dataclass(frozen=True)
class RewriteRow:
    """One row of a rewrites file: the seed it rewrites, the text, and whether it was cut off."""

    line: int
    seed_id: str
    rewrite: str | None
    truncated: bool = False
    label: str | None = None  # a hand label, "valid" or "invalid": the summary then measures the guard
    kind: str | None = None  # the label's class ("boolean_flip", "number_words", ...)


def read_rewrites(path: Path) -> list[RewriteRow]:
    """`{"seed_id", "rewrite"}` per line (optional: `finish_reason` "stop" | "length" or
    `truncated` bool; a hand `label` "valid" | "invalid" with its `class`); a bad row is an
    InputError naming its line."""
    rows = []
    for line, rec in iter_jsonl(path):
        if not isinstance(rec, dict):
            raise InputError('expected an object {"seed_id": ..., "rewrite": ...}', path=path, where=line)
        seed_id, rewrite = rec.get("seed_id"), rec.get("rewrite", ...)
        if not isinstance(seed_id, str) or not seed_id:
            raise InputError('"seed_id" must be a non-empty string (a BFCL id or an id in --data)', path=path, where=line)
        if rewrite is ... or not (rewrite is None or isinstance(rewrite, str)):
            raise InputError('"rewrite" must be a string (or null for an output with no query)', path=path, where=line)
        finish = rec.get("finish_reason", "stop")
        truncated = rec.get("truncated", finish == "length")
        if finish not in ("stop", "length") or not isinstance(truncated, bool):
            raise InputError('"finish_reason" must be "stop" or "length", "truncated" a boolean', path=path, where=line)
        label, kind = rec.get("label"), rec.get("class")
        if label not in (None, VALID, INVALID) or not (kind is None or isinstance(kind, str)):
            raise InputError('"label" must be "valid" or "invalid", "class" a string', path=path, where=line)
        rows.append(RewriteRow(line, seed_id, rewrite, truncated, label, kind))
    if not rows:
        raise InputError("no rewrites in the file", path=path)
    return rows


def resolve_seeds(rows: list[RewriteRow], path: Path, data: Path | None = None) -> dict[str, Example]:
    """The seed of every row: from `data` (advfc example rows, as `advfc data export` writes) or
    from the installed BFCL data. Unknown ids are named with the line of their first row."""
    known = {e.id: e for e in load_examples_jsonl(data)} if data is not None else {}
    wanted = list(dict.fromkeys(r.seed_id for r in rows if r.seed_id not in known))
    by_category: dict[str, list[str]] = {}
    unknown = []
    for seed_id in wanted:
        try:
            by_category.setdefault(category_of_id(seed_id), []).append(seed_id)
        except InputError:
            unknown.append(seed_id)
    for category, ids in by_category.items():
        present = {e.id: e for e in load_bfcl(category)}
        known.update({i: present[i] for i in ids if i in present})
        unknown += [i for i in ids if i not in present]
    if unknown:
        first = next(r for r in rows if r.seed_id in unknown)
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        source = f"in {data} or " if data is not None else ""
        raise InputError(f"unknown seed_id {first.seed_id!r}{more}: not {source}a BFCL id", path=path, where=first.line)
    return known


def validate_rewrites(rows: list[RewriteRow], seeds: dict[str, Example], rules: ValidityRules = ValidityRules(),
                      judge: Judge | None = None) -> tuple[list[dict], dict]:
    """The guard's verdict on every row, in input order, and a summary: the validity rate and how
    many rows each reason rejected (a row may have several)."""
    queries = [parse_rewrite(r.rewrite) if r.rewrite is not None else None for r in rows]
    verdicts = guard(queries, [seeds[r.seed_id] for r in rows], rules=rules, truncated=[r.truncated for r in rows], judge=judge)
    out = [{"seed_id": r.seed_id, "rewrite": r.rewrite, "valid": v.valid, "reasons": list(v.reasons)}
           for r, v in zip(rows, verdicts)]
    by_reason = Counter(c for v in verdicts for c in dict.fromkeys(reason_class(reason) for reason in v.reasons))
    n = len(rows)
    summary = {
        "rows": n,
        "valid": sum(v.valid for v in verdicts),
        "validity_rate": sum(v.valid for v in verdicts) / n,
        "unparseable": sum(v.status == UNPARSEABLE for v in verdicts),
        "rejections": {reason: {"rows": k, "rate": k / n} for reason, k in by_reason.most_common()},
        "judge": judge is not None,
    }
    if any(r.label for r in rows):
        summary["labelled"] = guard_errors([(r, v.valid) for r, v in zip(rows, verdicts) if r.label])
    return out, summary


def is_validate_summary(path: Path) -> bool:
    """What `advfc validate` may replace beside its verdicts: its own earlier summary."""
    try:
        summary = read_json(path)
    except InputError:
        return False
    return isinstance(summary, dict) and {"rows", "valid", "validity_rate", "rejections"} <= set(summary)


def guard_errors(judged: list[tuple[RewriteRow, bool]]) -> dict:
    """How the guard did on hand-labelled rows: false accepts (an invalid rewrite passed) and false
    rejects (a valid one refused), overall and per label class."""
    def rate(pairs: list[tuple[RewriteRow, bool]], label: str) -> dict:
        rows = [accepted for r, accepted in pairs if r.label == label]
        wrong = sum(accepted == (label == INVALID) for accepted in rows)
        return {"rows": len(rows), "errors": wrong, "rate": wrong / len(rows) if rows else None}

    per_class = {}
    for kind in sorted({r.kind or "(none)" for r, _ in judged}):
        pairs = [(r, a) for r, a in judged if (r.kind or "(none)") == kind]
        label = pairs[0][0].label
        per_class[kind] = {"label": label, **rate(pairs, label)}
    return {"false_accept": rate(judged, INVALID), "false_reject": rate(judged, VALID), "per_class": per_class}
