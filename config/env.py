"""The one helper through which settings read the environment."""

import os
from collections.abc import Callable
from typing import Any

_MISSING = object()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _to_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def get_env(name: str, default: Any = _MISSING, cast: Callable[[str], Any] = str) -> Any:
    """Read `name` from the environment, cast it, or fall back to `default`.

    A setting without a default is required: a missing one stops start-up with
    a message that names it (production secrets have no defaults).
    """
    raw = os.environ.get(name)
    if raw is None:
        if default is _MISSING:
            raise RuntimeError(f"The environment variable {name} must be set.")
        return default
    if cast is bool:
        return _to_bool(raw)
    return cast(raw)
