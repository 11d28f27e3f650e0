"""Experiment configuration: yaml files with ``base:`` inheritance plus command-line overrides.

Rules, chosen so that variants stay small and typos fail loudly:

* A yaml file may name one ``base:`` file (a path relative to itself). It is read first and the
  file's own values are merged over it, dict by dict; lists and scalars are replaced whole.
* The **root** of a chain (the file without ``base:``) declares every key and its type. Files that
  derive from it and the command line may only change values: a key the root does not have is an
  error naming the key and the file (or ``command line``), and so is a value of another type (an int
  may stand for a float; a root value of ``null`` accepts anything).
* ``--base FILE`` on the command line replaces the ``base:`` of the ``--config`` file. This is how a
  recipe swaps the paper configuration for the mini one under an unchanged variant file.
* Every leaf ``a.b.c`` can be set as ``--a.b.c VALUE`` (parsed as yaml, so ``0.1``, ``true``,
  ``[1, 2]``, ``null`` work; for string keys the text is taken as it is); callers add short aliases
  (e.g. ``--lambda-r`` for ``tasks.recon.weight``). Unknown options are errors.
* ``--print_config`` prints the resolved configuration and exits.
"""

from __future__ import annotations

import argparse
import copy
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from ssd.utils.fileio import atomic_write

BASE_KEY = "base"


class ConfigError(ValueError):
    """A configuration file or override that breaks the rules above."""


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid yaml: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def coerce(key: str, new: Any, old: Any, source: str) -> Any:
    """Check that ``new`` may replace ``old`` (the root's value) and return it in the root's type."""
    if old is None:
        return new
    if isinstance(old, bool) or isinstance(new, bool):
        if isinstance(old, bool) and isinstance(new, bool):
            return new
    elif isinstance(old, float) and isinstance(new, int | float):
        return float(new)
    elif isinstance(old, int) and isinstance(new, int):
        return new
    elif isinstance(old, str | list) and isinstance(new, type(old)):
        return new
    elif isinstance(old, dict) and isinstance(new, dict):
        return new
    raise ConfigError(f"{source}: {key} must be {_type_name(old)} (as in the root config), "
                      f"got {_type_name(new)} {new!r}")


def merge(parent: dict[str, Any], child: dict[str, Any], source: str, prefix: str = "") -> dict[str, Any]:
    """Return ``parent`` with ``child``'s values merged over it; keys must already exist in ``parent``."""
    out = copy.deepcopy(parent)
    for key, value in child.items():
        dotted = f"{prefix}{key}"
        if key not in parent:
            raise ConfigError(f"{source}: unknown key {dotted!r}")
        old = parent[key]
        value = coerce(dotted, value, old, source)
        if isinstance(old, dict):
            out[key] = merge(old, value, source, prefix=f"{dotted}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(path: str | os.PathLike, base: str | os.PathLike | None = None) -> dict[str, Any]:
    """Resolve ``path`` and its chain of bases; ``base`` (if given) replaces the file's own ``base:``."""
    return _resolve(Path(path), Path(base) if base is not None else None, ())


def _resolve(path: Path, base_override: Path | None, seen: tuple[Path, ...]) -> dict[str, Any]:
    real = path.resolve()
    if real in seen:
        chain = " -> ".join(str(p) for p in (*seen, real))
        raise ConfigError(f"circular base chain: {chain}")
    data = _read_yaml(path)
    base = data.pop(BASE_KEY, None)
    if base_override is not None:
        base_path = base_override
    elif base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{path}: base must be a file name, got {base!r}")
        base_path = path.parent / base
    else:
        return data
    if not base_path.is_file():
        raise ConfigError(f"{path}: base config file {base_path} does not exist")
    parent = _resolve(base_path, None, (*seen, real))
    return merge(parent, data, str(path))


def leaves(cfg: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(dotted key, value)`` for every non-mapping value, depth first, in file order."""
    for key, value in cfg.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def get(cfg: dict[str, Any], dotted: str) -> Any:
    """Value at a dotted key."""
    node: Any = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def set_leaf(cfg: dict[str, Any], dotted: str, raw: str, source: str = "command line") -> None:
    """Set a leaf from command-line text: yaml-parsed, except for string keys, and type-checked."""
    *parents, last = dotted.split(".")
    node = cfg
    for part in parents:
        node = node[part]
    old = node[last]
    if isinstance(old, str):
        value: Any = raw
    else:
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise ConfigError(f"{source}: --{dotted}: cannot parse {raw!r}: {e}") from None
        if isinstance(old, float) and isinstance(value, str):
            try:  # yaml 1.1 reads 1e-3 (no dot) as a string
                value = float(raw)
            except ValueError:
                pass
    node[last] = coerce(dotted, value, old, source)


def diff(old: dict[str, Any], new: dict[str, Any], ignore: Sequence[str] = ()) -> list[str]:
    """Dotted keys whose values differ (``key: old -> new``), skipping keys under ``ignore`` prefixes."""
    a, b = dict(leaves(old)), dict(leaves(new))
    changes = []
    for key in sorted(set(a) | set(b)):
        if any(key == p or key.startswith(p + ".") for p in ignore):
            continue
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            changes.append(f"{key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}")
    return changes


def to_yaml(cfg: dict[str, Any]) -> str:
    """The configuration as yaml text, keys in their declared order."""
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None)


def write_config(path: str | os.PathLike, cfg: dict[str, Any]) -> None:
    """Write the resolved configuration atomically."""
    with atomic_write(path) as f:
        f.write(to_yaml(cfg))


def parse(argv: Sequence[str] | None, description: str, aliases: dict[str, str] | None = None,
          add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
          ) -> tuple[dict[str, Any], argparse.Namespace]:
    """Parse ``--config FILE [--base FILE] [--a.b.c V ...]`` into the resolved config and the other args.

    ``aliases`` maps extra option names (``--lambda-r``) to dotted keys; ``add_arguments`` adds the
    program's own options (paths, flags), which are returned in the namespace. ``--print_config``
    prints the resolved config to stdout and exits.
    """
    aliases = aliases or {}
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config")
    pre.add_argument("--base")
    known, _ = pre.parse_known_args(argv)
    cfg: dict[str, Any] = {}
    if known.config is not None:
        cfg = load_config(known.config, known.base)

    parser = argparse.ArgumentParser(
        description=description, allow_abbrev=False,
        epilog="Every config leaf can be overridden as --section.key VALUE; see --print_config.",
    )
    parser.add_argument("--config", required=True, help="yaml config file (variant)")
    parser.add_argument("--base", help="replace the config file's base: (e.g. the mini profile)")
    parser.add_argument("--print_config", "--print-config", action="store_true",
                        help="print the resolved config and exit")
    if add_arguments is not None:
        add_arguments(parser)
    group = parser.add_argument_group("config overrides")
    keys = dict(leaves(cfg))
    for alias, dotted in aliases.items():
        if cfg and dotted not in keys:
            raise ConfigError(f"alias {alias} points at {dotted!r}, which the config does not declare")
        group.add_argument(alias, dest=f"cfg:{dotted}", metavar="VALUE", default=argparse.SUPPRESS,
                           action=_Ordered, help=f"alias of --{dotted}")
    for dotted, value in keys.items():
        group.add_argument(f"--{dotted}", dest=f"cfg:{dotted}", metavar=_type_name(value).upper(),
                           default=argparse.SUPPRESS, action=_Ordered, help=f"default: {value!r}")
    args = parser.parse_args(argv)
    for dotted, raw in getattr(args, "_overrides", []):
        try:
            set_leaf(cfg, dotted, raw)
        except ConfigError as e:
            parser.error(str(e))
    if args.print_config:
        print(to_yaml(cfg), end="")
        raise SystemExit(0)
    return cfg, args


class _Ordered(argparse.Action):
    """Record overrides in command-line order, so the last of an alias and its key wins."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        overrides = list(getattr(namespace, "_overrides", []))
        overrides.append((self.dest.removeprefix("cfg:"), values))
        namespace._overrides = overrides
        setattr(namespace, self.dest, values)
