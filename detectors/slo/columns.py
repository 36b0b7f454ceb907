"""A batch of events as columns, with each string column factorised once.

Every SLO of a spec file matches its selector, classifies its SLI and builds its group
keys on the same batch; factorising a column (distinct values + an integer code per
event) once and sharing it turns per-event string work into work per distinct value.

Example
-------
>>> batch = EventColumns({"service": ["chat", "search", "chat", None]})
>>> uniques, codes = batch.factorized("service")
>>> uniques, codes.tolist()
(['chat', 'search', None], [0, 1, 0, 2])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["EventColumns"]


class EventColumns:
    """Columns of one batch (field name -> sequence or array), factorised lazily.

    Parameters
    ----------
    columns
        Field name -> values, one per event.
    n
        Number of events (taken from the first column when omitted).

    Examples
    --------
    >>> cols = EventColumns({"track": np.array(["stable", "canary", "stable"], dtype=object)})
    >>> len(cols), cols.factorized("track")[0]
    (3, ['stable', 'canary'])
    """

    def __init__(self, columns: Mapping[str, Any], n: int | None = None) -> None:
        self.columns = columns
        if n is None:
            n = len(next(iter(columns.values()))) if columns else 0
        self.n = int(n)
        self._factorized: dict[str, tuple[list[Any], np.ndarray]] = {}

    def __len__(self) -> int:
        return self.n

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def get(self, name: str) -> Any:
        """The raw column, or ``None`` when the batch does not carry it."""
        return self.columns.get(name)

    def factorized(self, name: str) -> tuple[list[Any], np.ndarray]:
        """Distinct values of a column in first-seen order, and each event's code.

        A missing column factorises to a single ``None`` value.
        """
        cached = self._factorized.get(name)
        if cached is not None:
            return cached
        raw = self.columns.get(name)
        if raw is None:
            result: tuple[list[Any], np.ndarray] = ([None], np.zeros(self.n, dtype=np.int64))
        else:
            values = raw.tolist() if isinstance(raw, np.ndarray) else list(raw)
            if len(values) != self.n:
                raise ValueError(f"column {name!r} has {len(values)} values, expected {self.n}")
            # dict.fromkeys and map(__getitem__) run in C: no Python code per event.
            index: dict[Any, int] = dict.fromkeys(values, 0)
            for code, value in enumerate(index):
                index[value] = code
            codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=self.n)
            result = (list(index), codes)
        self._factorized[name] = result
        return result
