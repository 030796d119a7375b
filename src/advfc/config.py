"""Configs: pydantic models loaded from YAML, where every field is also a CLI flag (TRL-style).

Precedence: field default < YAML file < flags given on the command line. Errors name the file,
the line of the offending key, the field and what was expected.
"""

from __future__ import annotations

import inspect
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator

from .data import parse_categories
from .errors import InputError


def _known_categories(value: list[str]) -> list[str]:
    try:
        return parse_categories(value)
    except InputError as e:
        raise ValueError(e.message) from None


# A config field naming BFCL categories (`all`, `live` and `non_live` expand; unknown ones fail).
Categories = Annotated[list[str], AfterValidator(_known_categories)]


class BaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _split_comma_lists(cls, data: Any) -> Any:
        """`--categories a,b` arrives as one string; list fields accept that form everywhere."""
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                if _is_list(field.annotation) and isinstance(data.get(name), str):
                    data[name] = [s.strip() for s in data[name].split(",") if s.strip()]
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


def read_yaml_mapping(path: str | Path) -> tuple[dict, dict[str, int]]:
    """The YAML mapping and the line of each top-level key (for error messages)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("config file not found", path=path) from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(
            f"invalid YAML: {getattr(e, 'problem', e)}", path=path, where=mark.line + 1 if mark else None
        ) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise InputError("a config file must be a mapping of field: value", path=path, where=1)
    lines = {k.value: k.start_mark.line + 1 for k, _ in node.value} if isinstance(node, yaml.MappingNode) else {}
    return data, lines


def _describe(e: ValidationError, lines: dict[str, int], overrides: dict) -> str:
    parts = []
    for err in e.errors():
        field = ".".join(str(x) for x in err["loc"]) or "(config)"
        top = str(err["loc"][0]) if err["loc"] else ""
        origin = "flag --" + top.replace("_", "-") if overrides.get(top) is not None else (
            f"line {lines[top]}" if top in lines else "default"
        )
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown field {field!r} ({origin})")
        else:
            parts.append(f"field {field!r} ({origin}): {err['msg']}, got {err.get('input')!r}")
    return "; ".join(parts)


# ----------------------------------------------------------------------------- CLI binding


def _is_list(annotation) -> bool:
    return get_origin(annotation) is list or any(get_origin(a) is list for a in get_args(annotation))


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
