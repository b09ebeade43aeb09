"""One parser for every stage's config dataclass: the same names work as CLI flags, YAML keys and
`key=value` overrides (precedence: defaults < YAML file < key=value < explicit --flags)."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path

import yaml


class ConfigError(ValueError):
    pass


def _base_type(tp):
    """(scalar type, optional?, is list?) of a field annotation."""
    optional = False
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        tp = args[0]
        origin = typing.get_origin(tp)
    if origin is list:
        return typing.get_args(tp)[0], optional, True
    if origin is dict:
        return dict, optional, False
    return tp, optional, False


def coerce(value, tp, name: str):
    """Convert a YAML/CLI value to the field's type, with an error naming the key."""
    base, optional, is_list = _base_type(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null", "")):
        if optional or value is None:
            return None
    if is_list:
        items = value if isinstance(value, list) else [v for v in str(value).split(",") if v.strip()]
        return [coerce(v, base, name) for v in items]
    if base is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{name}': expected a mapping of settings, got {value!r}")
        return value
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            s = str(value).lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if base in (int, float, str):
            if base is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return base(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config key '{name}': expected {base.__name__}, got {value!r}") from None
    return value


def add_arguments(parser: argparse.ArgumentParser, cls) -> None:
    """Add one --flag per dataclass field; unspecified flags stay absent so the YAML and defaults apply."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        base, _, is_list = _base_type(hints[f.name])
        if base is dict:  # nested settings: YAML or dotted key=value overrides (select.epochs=3)
            continue
        flag = "--" + f.name.replace("_", "-")
        help_ = f.metadata.get("help", "")
        default = f.default if f.default is not dataclasses.MISSING else None
        if default is not None and not is_list:
            help_ += f" (default: {default})"
        if base is bool:
            parser.add_argument(flag, dest=f.name, nargs="?", const="true", default=argparse.SUPPRESS,
                                metavar="BOOL", help=help_)
        else:
            choices = f.metadata.get("choices")
            parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, help=help_,
                                choices=[str(c) for c in choices] if choices else None,
                                metavar=f.metadata.get("metavar"))


def build(cls, cli: dict | None = None, config_file: str | None = None, overrides: list[str] | None = None):
    """Build a `cls` instance from a YAML file, key=value overrides and CLI flags (later wins)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict = {}
    if config_file:
        path = Path(config_file)
        if not path.exists():
            raise ConfigError(f"{path}: config file not found")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of config keys")
        values.update({k.replace("-", "_"): v for k, v in loaded.items()})
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        k, v = item.split("=", 1)
        k, v = k.strip().replace("-", "_"), (yaml.safe_load(v) if v.strip() else v)
        if "." in k:  # a key of a nested mapping: stage.key=value
            top, sub = k.split(".", 1)
            values[top] = {**(values.get(top) or {}), sub: v}
        else:
            values[k] = v
    values.update(cli or {})
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(names))}")
    kwargs = {k: coerce(v, hints[k], k) for k, v in values.items()}
    for f in dataclasses.fields(cls):  # nested mappings extend their defaults instead of replacing them
        if f.name in kwargs and isinstance(kwargs[f.name], dict) and f.default_factory is not dataclasses.MISSING:
            kwargs[f.name] = {**f.default_factory(), **kwargs[f.name]}
    for f in dataclasses.fields(cls):
        choices = f.metadata.get("choices")
        if choices and f.name in kwargs and kwargs[f.name] not in choices:
            raise ConfigError(f"config key '{f.name}': {kwargs[f.name]!r} is not one of {', '.join(map(str, choices))}")
    missing = [f.name for f in dataclasses.fields(cls)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               and f.name not in kwargs]
    if missing:
        raise ConfigError("missing required setting(s): " + ", ".join("--" + m.replace("_", "-") for m in missing))
    cfg = cls(**kwargs)
    if hasattr(cfg, "validate"):
        cfg.validate()
    return cfg


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def parse_fields(items: list[str] | None) -> dict | None:
    """--fields prompt=question,response=answer -> {"prompt": "question", "response": "answer"}."""
    if not items:
        return None
    pairs = [item.split("=", 1) for item in items]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise ConfigError(f"--fields expects ROLE=NAME pairs such as prompt=question, got {','.join(items)}")
    return {k.strip(): v.strip() for k, v in pairs}
