"""Configs: pydantic models loaded from YAML, where every field is also a CLI flag (TRL-style).

Precedence: field default < YAML file < flags given on the command line. Errors name the file,
the line of the offending key, the field and what was expected.

A config file is at most `MAX_CONFIG_BYTES` of plain YAML: no anchors or aliases (so no alias
bombs), no duplicate keys, string keys only. Values are checked strictly: `true` is not a number,
`3.0` is not an integer, `.inf` and `.nan` are not numbers, and integers stay within `MAX_INT`.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator

from .data import parse_categories
from .errors import InputError
from .io import read_text

MAX_CONFIG_BYTES = 1 << 20
MAX_INT = 2**31 - 1


def _known_categories(value: list[str]) -> list[str]:
    try:
        return parse_categories(value)
    except InputError as e:
        raise ValueError(e.message) from None


# A config field naming BFCL categories (`all`, `live` and `non_live` expand; unknown ones fail).
Categories = Annotated[list[str], AfterValidator(_known_categories)]


def answers_need_questions(questions: Path | None, answers: Path | None, names: tuple[str, str]) -> None:
    """An answers file is read against its questions file: one given without the other is refused."""
    if answers is not None and questions is None:
        raise ValueError(f"{names[1]} is the possible-answer file of {names[0]}; give both")


class BaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        """What strict validation cannot take as written: `--categories a,b` arrives as one string
        (list fields accept that form everywhere), paths arrive as strings; integers are bounded."""
        if isinstance(data, dict):
            data = dict(data)
            for name, field in cls.model_fields.items():
                value = data.get(name)
                if _is_list(field.annotation) and isinstance(value, str):
                    items = [s.strip() for s in value.split(",") if s.strip()]
                    # `--seeds 0,1`: integer lists take integer-looking items as integers.
                    ints = _list_of(field.annotation) is int
                    data[name] = [int(s) if ints and re.fullmatch(r"-?\d{1,10}", s) else s for s in items]
                elif _accepts(field.annotation, Path) and isinstance(value, str):
                    data[name] = Path(value)
                elif type(value) is int and abs(value) > MAX_INT:
                    raise ValueError(f"{name} = {value} is out of range (at most {MAX_INT} in magnitude)")
        return data

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any):
        data: dict[str, Any] = {}
        lines: dict[str, int] = {}
        if path is not None:
            data, lines = read_yaml_mapping(path)
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**data)
        except ValidationError as e:
            raise InputError(_describe(e, lines, overrides), path=path) from None

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


class _ConfigLoader(yaml.SafeLoader):
    """Safe YAML without anchors, aliases or merge keys, and with unique string keys."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(None, None, "anchors and aliases (&name, *name) are not allowed", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        first: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(None, None, "merge keys (<<) are not allowed", key_node.start_mark)
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(None, None, f"keys must be strings, got {key!r:.40}", key_node.start_mark)
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {first[key]})", key_node.start_mark
                )
            first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_yaml_mapping(path: str | Path) -> tuple[dict, dict[str, int]]:
    """The YAML mapping and the line of each top-level key (for error messages)."""
    path = Path(path)
    if not path.exists():
        raise InputError("config file not found", path=path)
    text = read_text(path, limit=MAX_CONFIG_BYTES)
    loader = None
    try:
        loader = _ConfigLoader(text)  # checks the characters already
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(
            f"invalid YAML: {getattr(e, 'problem', None) or e}", path=path, where=mark.line + 1 if mark else None
        ) from None
    except RecursionError:
        raise InputError("invalid YAML: nested too deeply", path=path) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise InputError("a config file must be a mapping of field: value", path=path, where=1)
    return data, {k.value: k.start_mark.line + 1 for k, _ in node.value}


def _describe(e: ValidationError, lines: dict[str, int], overrides: dict) -> str:
    parts = []
    for err in e.errors():
        if not err["loc"]:  # a check across fields
            parts.append(err["msg"].removeprefix("Value error, "))
            continue
        field = ".".join(str(x) for x in err["loc"])
        top = str(err["loc"][0])
        origin = "flag --" + top.replace("_", "-") if overrides.get(top) is not None else (
            f"line {lines[top]}" if top in lines else "default"
        )
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown field {field!r:.80} ({origin})")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"field {field!r} ({origin}): {msg}, got {_short(err.get('input'))}")
    return "; ".join(parts)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------- CLI binding


def _is_list(annotation) -> bool:
    return get_origin(annotation) is list or any(get_origin(a) is list for a in get_args(annotation))


def _list_of(annotation):
    """The item type of a list annotation (or of the list inside an Optional)."""
    for a in (annotation, *get_args(annotation)):
        if get_origin(a) is list:
            return (get_args(a) or (None,))[0]
    return None


def _accepts(annotation, kind) -> bool:
    return annotation is kind or kind in get_args(annotation)


def _cli_type(annotation):
    """The flag type typer sees: scalars as-is, lists and literals as strings (validated by pydantic)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _cli_type(args[0]) if len(args) == 1 else str
    if annotation in (int, float, bool, str):
        return annotation
    if annotation is Path:
        return Path
    return str


def _help(field, name: str) -> str:
    text = field.description or ""
    ann = field.annotation
    if get_origin(ann) is Literal:
        text += f" One of: {', '.join(map(str, get_args(ann)))}."
    if _is_list(ann):
        text += " Comma-separated."
    default = field.default
    if default is not None and not callable(default):
        text += f" [default: {default}]"
    return text.strip()


def config_command(group, name: str, cls: type[BaseConfig], help: str):
    """Register `fn(config)` as `group <name> [--config FILE] [--<field> VALUE ...]`."""
    import typer

    def decorator(fn):
        params = [
            inspect.Parameter(
                "config",
                inspect.Parameter.KEYWORD_ONLY,
                default=typer.Option(None, "--config", "-c", help="YAML file with any of the fields below."),
                annotation=typing.Optional[Path],
            )
        ]
        for fname, field in cls.model_fields.items():
            flag = "--" + fname.replace("_", "-")
            kind = _cli_type(field.annotation)
            decls = [f"{flag}/--no-{fname.replace('_', '-')}"] if kind is bool else [flag]
            params.append(
                inspect.Parameter(
                    fname,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=typer.Option(None, *decls, help=_help(field, fname), show_default=False),
                    annotation=typing.Optional[kind],
                )
            )

        def command(**kwargs):
            path = kwargs.pop("config")
            overrides = {k: (str(v) if isinstance(v, Path) else v) for k, v in kwargs.items()}
            return fn(cls.load(path, **overrides))

        command.__signature__ = inspect.Signature(params)
        command.__name__ = fn.__name__
        command.__doc__ = fn.__doc__
        group.command(name, help=help)(command)
        return fn

    return decorator
