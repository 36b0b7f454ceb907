"""Durations as SLO specs write them: an integer with a suffix ``s``, ``m``, ``h`` or ``d``.

The text is kept as written (alert windows are labelled ``"<long>/<short>"`` with the
strings of the spec), the value is held in seconds so that factors compare periods and
windows in the same unit.

Example
-------
>>> d = parse_duration("6h")
>>> d.text, d.seconds, d.minutes
('6h', 21600, 360)
>>> parse_duration("90s").whole_minutes
False
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Duration", "DurationError", "parse_duration"]

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^([0-9]+)([smhd])$")


class DurationError(ValueError):
    """A duration string that is not ``<positive integer><s|m|h|d>``."""


@dataclass(frozen=True, slots=True)
class Duration:
    """A positive duration, with the text it was written as.

    Parameters
    ----------
    text
        The duration as written, e.g. ``"5m"``.
    seconds
        Its length in seconds.

    Examples
    --------
    >>> parse_duration("28d").seconds == 28 * 86400
    True
    """

    text: str
    seconds: int

    @property
    def whole_minutes(self) -> bool:
        """True when the duration is a whole number of minutes."""
        return self.seconds % 60 == 0

    @property
    def minutes(self) -> int:
        """Length in whole minutes (truncated; check :attr:`whole_minutes` first)."""
        return self.seconds // 60

    def __str__(self) -> str:
        return self.text


def parse_duration(text: object) -> Duration:
    """Parse ``"300s"``, ``"5m"``, ``"6h"`` or ``"28d"`` into a :class:`Duration`.

    Parameters
    ----------
    text
        The duration string. Surrounding whitespace is ignored; anything else that is not
        ``<integer><unit>`` with a positive integer is an error.

    Returns
    -------
    Duration

    Raises
    ------
    DurationError
        With a message that shows the accepted form.

    Examples
    --------
    >>> parse_duration("5m").seconds
    300
    >>> parse_duration("5 minutes")
    Traceback (most recent call last):
    ...
    detectors.slo.durations.DurationError: bad duration '5 minutes': write an integer followed by s, m, h or d (e.g. '5m', '6h', '28d')
    """
    if not isinstance(text, str):
        raise DurationError(
            f"bad duration {text!r}: write a string, an integer followed by s, m, h or d "
            "(e.g. '5m', '6h', '28d')"
        )
    stripped = text.strip()
    match = _PATTERN.match(stripped)
    if match is None:
        raise DurationError(
            f"bad duration {text!r}: write an integer followed by s, m, h or d "
            "(e.g. '5m', '6h', '28d')"
        )
    value = int(match.group(1))
    if value <= 0:
        raise DurationError(f"bad duration {text!r}: must be greater than zero")
    return Duration(text=stripped, seconds=value * _UNIT_SECONDS[match.group(2)])
