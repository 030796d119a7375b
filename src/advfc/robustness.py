"""The frozen robustness sets: held-out items with rule-based, value-preserving perturbations.

They do not depend on any model, so every run and every baseline is measured on the same items.
Query perturbations (built at run time): conversational filler, an irrelevant detail, indirect
phrasing and a typo in an ordinary word (never inside a gold value); an item is kept only if every
value the original states survives. Tool-list perturbations (`advfc data robustness`, committed
under data/robustness/tools/): the query and gold call as they are, the tool list changed around
them, a family the query model never trains on.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

from .data import BFCL_PIN, CATEGORIES, Example, is_irrelevance, load_bfcl
from .errors import InputError
from .exports import write_bfcl_files
from .io import atomic_write_json, check_output, file_digest, is_folder_of, read_json
from .validity import appears, numbers_in, preserved_literals

OPENERS = ("Hey there! ", "Hi, quick question. ", "Good morning! ", "Hello again. ")
DETAILS = (
    " I'm asking because a colleague brought it up at lunch today.",
    " By the way, it's been raining here all week.",
    " This is for a small side project of mine.",
    " My manager wants it before the meeting.",
)
INDIRECT = ("I was wondering if you could help with this: ", "Could you maybe sort this out for me? ", "")


def _pick(options: tuple[str, ...], key: str) -> str:
    return options[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(options)]


def _typo(text: str, example: Example, key: str) -> str:
    """Swap two inner letters of one ordinary word (long, alphabetic, not part of a gold value)."""
    protected = " ".join(str(v) for _, alts in preserved_literals(example) for v in alts).lower()
    words = [m for m in re.finditer(r"[A-Za-z]{6,}", text) if m.group(0).lower() not in protected]
    if not words:
        return text
    m = words[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(words)]
    w = m.group(0)
    return text[: m.start()] + w[0] + w[2] + w[1] + w[3:] + text[m.end():]


def perturb(example: Example) -> Example | None:
    """The perturbed twin of a held-out item, or None if a stated value would not survive."""
    q = example.query
    body = q[0].lower() + q[1:] if q[:1].isupper() and q[1:2].islower() else q
    text = _pick(OPENERS, example.id) + _pick(INDIRECT, example.id + "i") + body + _pick(DETAILS, example.id + "d")
    text = _typo(text, example, example.id + "t")
    nums = numbers_in(text)
    if not all(any(appears(v, text, nums) for v in alts) for _, alts in preserved_literals(example)):
        return None
    return example.with_query(text, id=f"{example.id}#robust")


def robustness_set(categories: list[str], per_category: int) -> list[tuple[Example, Example]]:
    """(clean, perturbed) pairs: the first `per_category` held-out items of each category that
    perturb cleanly, in split order (the same items every run)."""
    from .split import load_split

    split = load_split()
    pairs = []
    for category in categories:
        held = set(split.eval.get(category, []))
        taken = 0
        for example in load_bfcl(category):
            if taken >= per_category:
                break
            if example.id not in held:
                continue
            twin = perturb(example)
            if twin is not None:
                pairs.append((example, twin))
                taken += 1
    return pairs


def evaluate_robustness(generator, config, pairs: list[tuple[Example, Example]]) -> dict:
    """F's accuracy on the clean items and on their perturbed twins (same generation settings)."""
    from .evaluation import claim_folder, generate_category, run_record, score_category

    out = config.out_dir()
    claim_folder(out, run_record(config, generator.describe()))
    examples = [e for pair in pairs for e in pair]
    generate_category(generator, config, out, "robustness", examples)
    valid = {v["id"]: v["valid"] for v in score_category(out, "robustness", examples)}
    by_category: dict[str, list[tuple[bool, bool]]] = {}
    for clean, twin in pairs:
        by_category.setdefault(clean.category, []).append((valid[clean.id], valid[twin.id]))

    def rates(items):
        n = len(items)
        return {"items": n, "clean": sum(c for c, _ in items) / n, "perturbed": sum(p for _, p in items) / n}

    every = [x for items in by_category.values() for x in items]
    result = {**rates(every), "categories": {c: rates(items) for c, items in by_category.items()}} if every else {"items": 0}
    atomic_write_json(out / "robustness.json", result)
    return result


# ----------------------------------------------------------------------------- tool-list perturbations
#
# A second frozen set, of a family the query model never trains on: the query is untouched and the
# tool list changes around the gold call (distractors added, order shuffled, descriptions
# reworded). Built only from held-out items, committed under data/robustness/tools/ with a manifest.

TOOL_FAMILIES = {
    "tools-distract": "distractor functions from other held-out items added at hashed positions; the item's own tools keep their order",
    "tools-shuffle": "the tool list in a hashed order that differs from the original (one-tool items get the distractors first)",
    "tools-reword": "every function and parameter description reworded by rules; names, types, enums, required lists and defaults untouched",
}
DISTRACTORS = 3
NEAR_COPY = 0.25  # a call item's distractor sharing this share of stems with one of its tools may be a copy of it
MANIFEST = "manifest.json"
TOOLS_SET = "tool-list perturbations of held-out BFCL items"


def is_set_folder(path: Path, title: str) -> bool:
    """An empty folder, or a robustness set of this kind (its manifest's `set`): what a set writer
    may write into, so that writing one kind of set never replaces another."""
    if not is_folder_of(path, (MANIFEST,)):
        return False
    return not (path / MANIFEST).exists() or read_json(path / MANIFEST).get("set") == title
# Simple categories score against tools[0] (as BFCL's simple checker does), so an item that gains
# tools is scored as the category that means "one call, several tools".
WITH_MORE_TOOLS = {"simple_python": "multiple", "live_simple": "live_multiple"}

# Words that say nothing about what a function is for. Grammar words never count; generic
# verbs and nouns do not make two functions related, but do count as overlap with an irrelevance
# item's query (where erring towards "overlaps" only costs a candidate).
_GRAMMAR = frozenset(
    "the and for with from that this into your you are can will its which what when where whether how who "
    "not all any per via than then such also each other given using used use".split()
)
_GENERIC = frozenset(
    "get gets retrieve retrieves fetch fetches find finds calculate calculates compute computes return returns "
    "provide provides information details data based specific specified value values number list name type "
    "string optional default function api tool request user".split()
)


def _hash(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16)


def _stems(text: str, *, generic: bool = False) -> set[str]:
    """Crude stems (first six letters) of the words of `text`, camelCase and snake_case split, so
    "calculation" meets "calculate" and "getWeather" meets "weather"."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    skip = _GRAMMAR if generic else _GRAMMAR | _GENERIC
    return {w[:6] for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 3 and w not in skip}


def _descriptions(spec) -> list[str]:
    """Every description string of a function doc (its own, its parameters', nested ones)."""
    out = [spec["description"]] if isinstance(spec, dict) and isinstance(spec.get("description"), str) else []
    if isinstance(spec, dict):
        for key in ("parameters", "items"):
            out += _descriptions(spec.get(key))
        for child in (spec.get("properties") or {}).values() if isinstance(spec.get("properties"), dict) else ():
            out += _descriptions(child)
    return out


def _tool_text(tool: dict) -> str:
    params = (tool.get("parameters") or {}).get("properties") or {}
    return " ".join([tool["name"], *params, *_descriptions(tool)])


def _same_name(a: str, b: str) -> bool:
    """Names a model might confuse or a BFCL handler might map to one another (case, `.` vs `_`)."""
    return re.sub(r"[^a-z0-9]", "", a.lower()) == re.sub(r"[^a-z0-9]", "", b.lower())


class DistractorPool:
    """Functions of held-out items, one per name, with their stems precomputed."""

    def __init__(self, examples: list[Example]):
        self.tools: list[tuple[dict, set[str], set[str], set[str]]] = []
        seen: set[str] = set()
        for example in examples:
            for tool in example.tools:
                if tool["name"] in seen:
                    continue
                seen.add(tool["name"])
                # (doc, name stems, description stems, every stem for the irrelevance check)
                self.tools.append((tool, _stems(tool["name"]), _stems(tool["description"]),
                                   _stems(_tool_text(tool), generic=True)))

    def pick(self, example: Example, k: int = DISTRACTORS) -> list[dict]:
        """The `k` functions most related to the item's tools (by shared stems of names and
        descriptions) that cannot answer its request. BFCL holds many near-copies of one function
        under other names, and the most related ones are those; a near-copy would make the gold
        call ambiguous. So for a call item a candidate may share no content stem with the query
        and its name may neither contain, nor be contained in, nor share two stems with the name of
        one of the item's tools, nor its name and description together share a quarter of their
        stems with one of the item's tools'; for an irrelevance item it may share no word at all with the
        query (generic ones included), so the request stays unanswerable."""
        own = [t["name"] for t in example.tools] + [n for answer in example.answers for n in answer]
        own_names = [_stems(t["name"]) for t in example.tools]
        own_docs = [_stems(t["name"] + " " + t["description"]) for t in example.tools]
        tool_stems = set().union(*own_docs)
        query = " ".join(str(m.get("content") or "") for m in example.messages if m.get("role") == "user")
        irrelevant = is_irrelevance(example.category)
        asked, asked_all = _stems(query), _stems(query, generic=True)
        ranked = []
        for tool, name, description, every in self.tools:
            if any(_same_name(tool["name"], n) for n in own):
                continue
            doc = name | description
            if irrelevant and every & asked_all:
                continue
            if not irrelevant and ((name | description) & asked
                                   or any(name and o and (name <= o or o <= name or len(name & o) > 1) for o in own_names)
                                   or any(len(doc & o) >= NEAR_COPY * len(doc | o) for o in own_docs if o)):
                continue
            ranked.append((-len(doc & tool_stems), _hash(f"{example.id}:distract:{tool['name']}"), tool))
        ranked.sort(key=lambda r: r[:2])
        return [tool for _, _, tool in ranked[:k]]


def _insert_at_hashed_positions(example: Example, tools: list[dict], extra: list[dict]) -> list[dict]:
    out = list(tools)
    for tool in extra:
        out.insert(_hash(f"{example.id}:at:{tool['name']}") % (len(out) + 1), tool)
    return out


def _shuffled(example: Example, tools: list[dict]) -> list[dict]:
    order = sorted(tools, key=lambda t: _hash(f"{example.id}:shuffle:{t['name']}"))
    # A hashed order may happen to be the original one; rotating it guarantees a different one.
    return order[1:] + order[:1] if [t["name"] for t in order] == [t["name"] for t in tools] else order


# Sentence-initial verbs and their synonyms (base form, third person). The second group are also
# nouns ("List of cities", "Book title"), so they are swapped only before a word that makes them verbs.
_VERBS = {
    "Calculate": ("Compute", "Calculates", "Computes"), "Compute": ("Calculate", "Computes", "Calculates"),
    "Retrieve": ("Fetch", "Retrieves", "Fetches"), "Fetch": ("Retrieve", "Fetches", "Retrieves"),
    "Get": ("Retrieve", "Gets", "Retrieves"), "Find": ("Look up", "Finds", "Looks up"),
    "Locate": ("Find", "Locates", "Finds"), "Determine": ("Work out", "Determines", "Works out"),
    "Generate": ("Produce", "Generates", "Produces"), "Create": ("Make", "Creates", "Makes"),
    "Provide": ("Give", "Provides", "Gives"), "Predict": ("Forecast", "Predicts", "Forecasts"),
    "Estimate": ("Approximate", "Estimates", "Approximates"), "Purchase": ("Buy", "Purchases", "Buys"),
    "Perform": ("Carry out", "Performs", "Carries out"), "Execute": ("Run", "Executes", "Runs"),
    "Reserve": ("Book", "Reserves", "Books"), "Identify": ("Determine", "Identifies", "Determines"),
    "Initiate": ("Start", "Initiates", "Starts"), "Explore": ("Look through", "Explores", "Looks through"),
    "Delete": ("Remove", "Deletes", "Removes"), "Remove": ("Delete", "Removes", "Deletes"),
    "Obtain": ("Get", "Obtains", "Gets"), "Analyze": ("Examine", "Analyzes", "Examines"),
}
_NOUN_VERBS = {
    "Search": ("Query", "Searches", "Queries"), "Book": ("Reserve", "Books", "Reserves"),
    "List": ("Enumerate", "Lists", "Enumerates"), "Check": ("Verify", "Checks", "Verifies"),
    "Display": ("Show", "Displays", "Shows"), "Update": ("Modify", "Updates", "Modifies"),
    "Return": ("Give back", "Returns", "Gives back"), "Set": ("Configure", "Sets", "Configures"),
}
_VERB_CONTEXT = re.compile(r"\s+(?:the|a|an|all|for|whether|if|information|details|available|new|current)\b")
# Phrase rewrites anywhere in a description (word-bounded, case kept on the first letter).
_PHRASES = (
    (r"\be\.g\.,?", "for example"), (r"\bi\.e\.,?", "that is"), (r"\bdefault value is\b", "defaults to"),
    (r"\bdefault is\b", "defaults to"), (r"\bin the format of\b", "formatted as"), (r"\bin the format\b", "formatted as"),
    (r"\bspecified\b", "given"), (r"\bspecific\b", "particular"), (r"\bwhether or not\b", "whether"),
    (r"\bsuch as\b", "like"), (r"\binformation\b", "details"), (r"\bretrieves\b", "fetches"),
    (r"\bcalculates\b", "computes"), (r"\bthe number of\b", "the count of"),
)
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`")


def _keep_case(original: str, new: str) -> str:
    return new[:1].upper() + new[1:] if original[:1].isupper() else new


def _reword_plain(text: str, protected: set[str], *, leading_article: bool) -> str:
    """Reword a stretch of description text with no quoted literal in it."""
    def verb(m: re.Match) -> str:
        word, after = m.group(2), text[m.end():]
        for table, needs_context in ((_VERBS, False), (_NOUN_VERBS, True)):
            for base, (syn, third, syn_third) in table.items():
                if word in (base, third) and word.lower() not in protected and (not needs_context or _VERB_CONTEXT.match(after)):
                    return m.group(1) + (syn if word == base else syn_third)
        return m.group(0)

    out = re.sub(r"(^|[.!?]\s+)([A-Z][a-z]+)", verb, text)
    for pattern, new in _PHRASES:
        out = re.sub(pattern, lambda m: m.group(0) if m.group(0).lower() in protected else _keep_case(m.group(0), new), out,
                     flags=re.I)
    if leading_article:
        # "The radius of the circle." -> "Radius of the circle." (a parameter description's noun phrase)
        out = re.sub(r"^(?:The|A|An)\s+([a-z])", lambda m: m.group(1).upper(), out)
    return out


def reword(text: str, protected: set[str], *, parameter: bool) -> str:
    """A rule-based rewording that keeps the meaning: synonyms for sentence-initial verbs, a few
    phrase rewrites, and (for a parameter) its noun phrase without the leading article. Quoted
    literals and any word that is a name, enum value or default of the tool are left as they are."""
    parts, last = [], 0
    for m in _QUOTED.finditer(text):
        parts.append(_reword_plain(text[last:m.start()], protected, leading_article=parameter and last == 0))
        parts.append(m.group(0))
        last = m.end()
    parts.append(_reword_plain(text[last:], protected, leading_article=parameter and last == 0))
    return "".join(parts)


def _protected_words(tool: dict) -> set[str]:
    """Parameter names, enum values and defaults: a description may refer to them by their exact
    spelling (e.g. "set `mode` to list"), so a rewrite rule matching one of them leaves it alone."""
    words: set[str] = set()

    def walk(spec):
        if not isinstance(spec, dict):
            return
        words.update(str(v).lower() for v in [*(spec.get("enum") or []), *([spec["default"]] if "default" in spec else [])])
        for child in ("items", "parameters"):
            walk(spec.get(child))
        for pname, child in (spec.get("properties") or {}).items() if isinstance(spec.get("properties"), dict) else ():
            words.add(pname.lower())
            walk(child)

    walk(tool)
    return words


def reword_tool(tool: dict) -> dict:
    """The function doc with every description reworded and every other key copied as it is."""
    protected = _protected_words(tool)

    def walk(spec, parameter: bool):
        if not isinstance(spec, dict):
            return spec
        out = dict(spec)
        if isinstance(spec.get("description"), str):
            out["description"] = reword(spec["description"], protected, parameter=parameter)
        for key in ("items", "parameters"):
            if key in spec:
                out[key] = walk(spec[key], parameter or key == "items")
        if isinstance(spec.get("properties"), dict):
            out["properties"] = {name: walk(child, True) for name, child in spec["properties"].items()}
        return out

    return walk(tool, False)


def tool_twin(example: Example, family: str, pool: DistractorPool) -> Example | None:
    """The item with its tool list perturbed by `family` (query and gold as they are), or None when
    the family cannot change it (too few distractors, nothing to reword)."""
    tools = example.tools
    if family == "tools-reword":
        new = [reword_tool(t) for t in tools]
        if new == tools:
            return None
    else:
        extra = pool.pick(example) if family == "tools-distract" or len(tools) < 2 else []
        if len(extra) < DISTRACTORS and (family == "tools-distract" or len(tools) < 2):
            return None
        new = _insert_at_hashed_positions(example, tools, extra) if family == "tools-distract" else _shuffled(example, tools + extra)
    category = WITH_MORE_TOOLS.get(example.category, example.category) if len(new) > len(tools) else example.category
    return replace(example, id=f"{example.id}#{family}", category=category, tools=new)


def tool_twins(per_category: int) -> list[tuple[Example, str, Example]]:
    """(original, family, twin) for up to `per_category` held-out items of every held-out category
    and family, taken in the order of a hash of their id (the same items every time)."""
    from .split import load_split

    split = load_split()
    held = {}
    for category in CATEGORIES:
        ids = set(split.eval.get(category, []))
        if ids:
            held[category] = [e for e in load_bfcl(category) if e.id in ids]
    pool = DistractorPool([e for examples in held.values() for e in examples])
    out = []
    for category, examples in held.items():
        ranked = sorted(examples, key=lambda e: _hash(f"tools:{e.id}"))
        for family in TOOL_FAMILIES:
            taken = 0
            for example in ranked:
                if taken == per_category:
                    break
                twin = tool_twin(example, family, pool)
                if twin is not None:
                    out.append((example, family, twin))
                    taken += 1
    return out


def write_tools_set(out: str | Path, per_category: int) -> dict:
    """Write the tool-list robustness set to `out` (questions.jsonl and answers.jsonl in BFCL's
    format, plus manifest.json) and return the manifest."""
    from importlib import metadata, resources

    from .split import DEFAULT_SPLIT

    out = check_output(out, what="a tool-list robustness set (a folder with its manifest.json)",
                       ours=lambda p: is_set_folder(p, TOOLS_SET))
    if per_category < 1:
        raise InputError(f"--per-category must be at least 1, got {per_category}")
    twins = tool_twins(per_category)
    write_bfcl_files([t for _, _, t in twins], out,
                     [{"family": family, "source_id": e.id, "source_category": e.category} for e, family, _ in twins])
    counts: dict[str, dict[str, int]] = {}
    scored: dict[str, int] = {}
    for e, family, t in twins:
        counts.setdefault(e.category, dict.fromkeys(TOOL_FAMILIES, 0))[family] += 1
        scored[t.category] = scored.get(t.category, 0) + 1
    try:
        bfcl_version = metadata.version("bfcl-eval")
    except metadata.PackageNotFoundError:  # data from ADVFC_BFCL_DATA: only the pin is known
        bfcl_version = None
    manifest = {
        "set": TOOLS_SET,
        "families": TOOL_FAMILIES,
        "per_category": per_category,
        "distractors": DISTRACTORS,
        "items": len(twins),
        "items_by_source_category": counts,
        "items_by_scored_category": scored,
        "files": {name: file_digest(out / name) for name in ("questions.jsonl", "answers.jsonl")},
        "bfcl_eval": bfcl_version,
        "bfcl_pin": BFCL_PIN,
        "split": {"file": "advfc/" + DEFAULT_SPLIT,
                  "sha256": hashlib.sha256(resources.files("advfc").joinpath(DEFAULT_SPLIT).read_bytes()).hexdigest()},
        "command": f"advfc data robustness --out {out} --per-category {per_category}",
    }
    atomic_write_json(out / MANIFEST, manifest)
    return manifest
