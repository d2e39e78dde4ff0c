"""Range checks of the component configs (``REAConfig.validate``, ``TrainConfig.validate``, ...).

Each component's config dataclass checks its own ranges with these helpers, naming the key
as a user types it: ``where`` is the dotted prefix of the section (``"strategy.rea."``), so
the launcher's message and a direct caller's are the same sentence.

    >>> at_least("strategy.rea.", "population_size", 0, 1)
    Traceback (most recent call last):
    ...
    nas.config_checks.SettingError: 'strategy.rea.population_size' is 0: must be >= 1; e.g. strategy.rea.population_size=1
"""

from __future__ import annotations

__all__ = ["SettingError", "at_least", "between", "fail", "one_of", "positive"]


class SettingError(ValueError):
    """A setting out of its range: one line naming the key, the value and the fix."""


def fail(key: str, value: object, need: str, fix: str = "") -> None:
    tail = f"; {fix}" if fix else ""
    raise SettingError(f"'{key}' is {value!r}: {need}{tail}")


def at_least(where: str, name: str, value: float, low: float, what: str = "") -> None:
    key = where + name
    if not value >= low:  # also catches NaN
        note = f" ({what})" if what else ""
        fail(key, value, f"must be >= {low:g}{note}", f"e.g. {key}={low:g}")


def positive(where: str, name: str, value: float, what: str = "") -> None:
    key = where + name
    if not value > 0:
        fail(key, value, f"must be > 0{f' ({what})' if what else ''}")


def between(where: str, name: str, value: float, low: float, high: float, *,
            open_low: bool = False, open_high: bool = False) -> None:  # fmt: skip
    ok_low = value > low if open_low else value >= low
    ok_high = value < high if open_high else value <= high
    if not (ok_low and ok_high):
        lb, hb = ("(" if open_low else "["), (")" if open_high else "]")
        fail(where + name, value, f"must lie in {lb}{low:g}, {high:g}{hb}")


def one_of(where: str, name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        fail(where + name, value, f"choose one of {', '.join(str(a) for a in allowed)}")
