"""Continuous canary-vs-stable comparison per service over a sliding event-time window.

:class:`CanaryJudge` keeps, per (service, track, minute), the aggregates a verdict needs:
events, errors, PII leaks, scored answers, weighted toxic and weighted scored sums, the sum
of squared weights (for Kish effective sample sizes) and a 128-bin log-spaced latency
histogram. At each minute close it compares the canary track with ``stable`` (or
``baseline`` when the window has no stable events) over ``[m - window + 1, m]``:

* ``error_ratio``, ``pii_leak_ratio`` — one-sided two-proportion tests: the pooled z is
  the reported ``statistic``, the ``p_value`` is the exact one-sided conditional (Fisher)
  test on the same counts, because the normal tail is far too optimistic for rare events
  (see :mod:`detectors.canary.statistics`);
* ``toxicity_ratio`` — the same on weighted proportions (weighted toxic / weighted scored)
  with Kish effective sample sizes ``(sum w)^2 / sum w^2`` (rounded for the exact test), so
  sampled scoring stays unbiased;
* ``latency`` — one-sided Mann-Whitney U on the two histograms (tie-corrected), with p50 and
  p95 read from the histograms for the evidence and the practical rule.

**Multiple testing.** A comparison starts when the service's window first holds canary
events (and starts again after a window without any). Look ``t`` is the ``t``-th minute
close of that comparison at which both tracks have ``min_samples`` events *and* the window
changed (a minute with events entered or left it: a look on identical data is the same
test and is neither repeated nor counted). Each of the ``k = 4`` metrics is tested at
``alpha_t = alpha * 6 / (pi^2 t^2) / k``; since ``sum_t 6 / (pi^2 t^2) = 1``, the union bound
gives P(any false fail, any metric, any look) ``<= alpha`` for a canary no worse than stable,
however long it runs. A metric fails only when it is significant at ``alpha_t`` *and*
beyond its practical margin (``min_*_delta`` absolute, or p50 or p95 at least
``latency_ratio`` times stable's). Verdict: ``inconclusive`` while either track has fewer
than ``min_samples`` events in the window, else ``fail`` if any metric fails, else ``pass``.
Only changes are returned.

**Event time.** Events of minutes already closed still count in later windows (they do not
revise past verdicts) and are counted in ``late_events``; those too old for any later
window are dropped and counted in ``dropped_events``. Rows of other tracks (``shadow``...)
are ignored and counted in ``ignored_events``.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> def minute_of(m, canary_err):
...     n_s, n_c = 300, 30
...     tracks = np.array(["stable"] * n_s + ["canary"] * n_c, dtype=object)
...     n = n_s + n_c
...     err = rng.random(n) < np.where(tracks == "canary", canary_err, 0.0005)
...     return dict(minutes=np.full(n, m, dtype=np.int64),
...                 services=np.full(n, "chat", dtype=object), tracks=tracks,
...                 deployments=np.where(tracks == "canary", "chat-v2", "chat-v1"),
...                 error=err, pii_leak=np.zeros(n, dtype=bool),
...                 toxicity=np.full(n, np.nan), weight=np.ones(n),
...                 latency_ms=rng.lognormal(5, 0.5, n))
>>> judge = CanaryJudge()
>>> changes = []
>>> for m in range(60):
...     changes += judge.update_batch(**minute_of(m, 0.0005 if m < 30 else 0.05)).close_through(m)
>>> [(v.minute, v.verdict, v.failed_metrics) for v in changes]
[(6, 'pass', ()), (37, 'fail', ('error_ratio',))]
>>> judge.verdict("chat"), judge.services
('fail', ['chat'])
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
import zlib
from typing import Any

import numpy as np

from detectors.canary.statistics import (
    N_LATENCY_BINS,
    fisher_exact_greater,
    histogram_quantile,
    latency_bins,
    mann_whitney_from_histograms,
    proportion_z_test,
    spent_alpha,
)
from detectors.canary.verdict import CanaryParams, CanaryVerdict

TRACKS = ("canary", "stable", "baseline")
CANARY, STABLE, BASELINE = 0, 1, 2
METRICS = ("error_ratio", "pii_leak_ratio", "toxicity_ratio", "latency")

_MAGIC = b"TCCN"
_FORMAT_VERSION = 1
_SCALARS_INT = ("count", "errors", "pii", "scored")
_SCALARS_FLOAT = ("wtox", "wsum", "w2")


class _ServiceState:
    __slots__ = ("deploy_minute", "deployments", "looks", "verdict")

    def __init__(self) -> None:
        self.verdict = "inconclusive"
        self.looks = 0
        self.deployments = ["", "", ""]
        self.deploy_minute = [-(2**62), -(2**62), -(2**62)]


class CanaryJudge:
    """Canary verdicts per service from batches of events (see the module docstring).

    Parameters
    ----------
    params
        :class:`CanaryParams`; defaults when ``None``.

    Attributes
    ----------
    late_events
        Events whose minute was already closed (still counted in later windows).
    dropped_events
        Events too old for any later window: not counted.
    ignored_events
        Events of tracks other than canary/stable/baseline.
    closed_minute
        Last closed minute (``None`` before the first close).
    """

    version = "1"

    def __init__(self, params: CanaryParams | None = None) -> None:
        self.params = params or CanaryParams()
        self.late_events = 0
        self.dropped_events = 0
        self.ignored_events = 0
        self.closed_minute: int | None = None
        self._names: list[str] = []
        self._codes: dict[str, int] = {}
        self._state: dict[int, _ServiceState] = {}  # verdict "" until canary events arrive
        self._rows: list[tuple[dict[int, int], dict[int, int], dict[int, int]]] = []
        self._pending: list[set[int]] = []
        self._free: list[int] = []
        self._used = 0
        self._alloc(64)

    # ------------------------------------------------------------------ storage
    def _alloc(self, capacity: int) -> None:
        self._ints = np.zeros((capacity, len(_SCALARS_INT)), dtype=np.int64)
        self._floats = np.zeros((capacity, len(_SCALARS_FLOAT)), dtype=np.float64)
        self._hist = np.zeros((capacity, N_LATENCY_BINS), dtype=np.int64)

    def _grow(self) -> None:
        cap = self._ints.shape[0]
        ints, floats, hist = self._ints, self._floats, self._hist
        self._alloc(cap * 2)
        self._ints[:cap] = ints
        self._floats[:cap] = floats
        self._hist[:cap] = hist

    def _new_row(self) -> int:
        if self._free:
            return self._free.pop()
        if self._used == self._ints.shape[0]:
            self._grow()
        self._used += 1
        return self._used - 1

    def _service_code(self, name: str) -> int:
        code = self._codes.get(name)
        if code is None:
            code = len(self._names)
            self._names.append(name)
            self._codes[name] = code
            self._rows.append(({}, {}, {}))
            self._pending.append(set())
        return code

    def _service_codes(self, services: np.ndarray) -> np.ndarray:
        """Service code per event by dict lookup in C (no sort of the strings)."""
        try:
            return np.fromiter(map(self._codes.__getitem__, services), np.int64, len(services))
        except KeyError:
            pass
        except TypeError as exc:
            raise ValueError(f"services must be an array of str: {exc}") from exc
        try:
            new = set(services.tolist()) - self._codes.keys()
        except TypeError as exc:
            raise ValueError(f"services must be an array of str: {exc}") from exc
        bad = [x for x in new if not isinstance(x, str)]
        if bad:
            raise ValueError(f"services must be an array of str, got {bad[0]!r}")
        for name in sorted(new):
            self._service_code(str(name))
        return np.fromiter(map(self._codes.__getitem__, services), np.int64, len(services))

    # ------------------------------------------------------------------ input
    def update_batch(
        self,
        minutes: np.ndarray,
        services: np.ndarray,
        tracks: np.ndarray,
        deployments: np.ndarray,
        error: np.ndarray,
        pii_leak: np.ndarray,
        toxicity: np.ndarray,
        weight: np.ndarray,
        latency_ms: np.ndarray,
    ) -> CanaryJudge:
        """Add a batch of events (any minute order); returns ``self``.

        Parameters
        ----------
        minutes
            Event-time epoch minutes (integers).
        services, tracks, deployments
            Arrays of ``str``; rows whose track is not canary/stable/baseline are ignored.
        error, pii_leak
            Booleans per event.
        toxicity
            Toxicity score per event, NaN where the answer was not scored.
        weight
            Sampling weight of scored answers (> 0, finite; ignored where not scored).
        latency_ms
            Latency per event; NaN, inf and negative values are left out of the histogram.

        Raises
        ------
        ValueError
            Arrays of different lengths, non-integer minutes, bad weights on scored rows,
            or non-string services.
        """
        cols = {
            "minutes": minutes,
            "services": services,
            "tracks": tracks,
            "deployments": deployments,
            "error": error,
            "pii_leak": pii_leak,
            "toxicity": toxicity,
            "weight": weight,
            "latency_ms": latency_ms,
        }
        arrs = {k: np.asarray(v) for k, v in cols.items()}
        lengths = {k: (a.shape[0] if a.ndim == 1 else -1) for k, a in arrs.items()}
        if len(set(lengths.values())) != 1 or -1 in lengths.values():
            raise ValueError(f"canary batch arrays must be 1-D and of one length, got {lengths}")
        n = lengths["minutes"]
        if n == 0:
            return self
        mins = arrs["minutes"]
        if not np.issubdtype(mins.dtype, np.integer):
            raise ValueError(f"minutes must be integer epoch minutes, got dtype {mins.dtype}")
        mins = mins.astype(np.int64, copy=False)
        trk = arrs["tracks"]
        tcode = np.full(n, -1, dtype=np.int64)
        for code, name in enumerate(TRACKS):  # == on str arrays beats a dict lookup per event
            tcode[trk == name] = code
        keep = tcode >= 0
        self.ignored_events += int(n - np.count_nonzero(keep))
        W = self.params.window_minutes
        if self.closed_minute is not None:
            late = keep & (mins <= self.closed_minute)
            too_old = late & (mins < self.closed_minute - W + 2)
            self.late_events += int(np.count_nonzero(late))
            self.dropped_events += int(np.count_nonzero(too_old))
            keep &= ~too_old
        if not keep.all():
            idx = np.flatnonzero(keep)
            if idx.size == 0:
                return self
            arrs = {k: a[idx] for k, a in arrs.items()}
            mins, tcode = mins[idx], tcode[idx]
        n = mins.shape[0]
        tox = arrs["toxicity"].astype(np.float64, copy=False)
        scored = ~np.isnan(tox)
        w = arrs["weight"].astype(np.float64, copy=False)
        ws = w[scored]
        if ws.size and not (np.all(np.isfinite(ws)) and np.all(ws > 0)):
            raise ValueError("weight must be finite and > 0 on every scored row (toxicity not NaN)")
        scode = self._service_codes(arrs["services"])

        # one group per (service, track, minute): packed int key, grouped without a sort
        # when the key space is small (the usual case), else by np.unique
        mmin = int(mins.min())
        span = int(mins.max()) - mmin + 1
        n_keys = 3 * len(self._names) * span
        key = (scode * 3 + tcode) * span + (mins - mmin)
        if n_keys <= 4 * n + 65_536:
            present = np.bincount(key, minlength=n_keys) > 0
            ukeys = np.flatnonzero(present)
            inv = (np.cumsum(present) - 1)[key]
            g_st, g_m = ukeys // span, ukeys % span + mmin
        elif n_keys < 2**62:
            ukeys, inv = np.unique(key, return_inverse=True)
            g_st, g_m = ukeys // span, ukeys % span + mmin
        else:  # absurd minute span: unique on the pair instead of one packed key
            pairs = np.stack([scode * 3 + tcode, mins], axis=1)
            upairs, inv = np.unique(pairs, axis=0, return_inverse=True)
            g_st, g_m = upairs[:, 0], upairs[:, 1]
        inv = inv.reshape(-1)
        G = len(g_st)
        rep = np.empty(G, dtype=np.int64)
        rep[inv] = np.arange(n)  # some event of each group: its deployment is "seen" there
        deployments = arrs["deployments"]
        rows = np.empty(G, dtype=np.int64)
        nxt = None if self.closed_minute is None else self.closed_minute + 1
        for g, (stg, m) in enumerate(zip(g_st.tolist(), g_m.tolist(), strict=True)):
            s, t = divmod(stg, 3)
            per_minute = self._rows[s][t]
            r = per_minute.get(m)
            if r is None:
                r = self._new_row()
                self._ints[r] = 0
                self._floats[r] = 0.0
                self._hist[r] = 0
                per_minute[m] = r
            rows[g] = r
            pend = self._pending[s]
            pend.add(m if nxt is None else max(m, nxt))
            pend.add(m + W)
            state = self._state.get(s)
            if state is None:  # verdict "" until the service has canary events: not compared
                state = self._state[s] = _ServiceState()
                state.verdict = ""
            if t == CANARY and state.verdict == "":
                state.verdict = "inconclusive"
            if m >= state.deploy_minute[t]:  # groups come in minute order per (service, track)
                state.deploy_minute[t] = m
                state.deployments[t] = str(deployments[rep[g]])

        err = arrs["error"].astype(bool, copy=False)
        pii = arrs["pii_leak"].astype(bool, copy=False)
        toxic = scored & (tox > self.params.toxicity_threshold)
        self._ints[rows] += np.stack(
            [
                np.bincount(inv, minlength=G),
                np.bincount(inv[err], minlength=G),
                np.bincount(inv[pii], minlength=G),
                np.bincount(inv[scored], minlength=G),
            ],
            axis=1,
        )
        self._floats[rows] += np.stack(
            [
                np.bincount(inv[toxic], weights=w[toxic], minlength=G),
                np.bincount(inv[scored], weights=ws, minlength=G),
                np.bincount(inv[scored], weights=ws * ws, minlength=G),
            ],
            axis=1,
        )
        lat = arrs["latency_ms"].astype(np.float64, copy=False)
        fin = np.isfinite(lat) & (lat >= 0)
        hb = inv[fin] * N_LATENCY_BINS + latency_bins(lat[fin])
        self._hist[rows] += np.bincount(hb, minlength=G * N_LATENCY_BINS).reshape(G, N_LATENCY_BINS)
        return self

    # ------------------------------------------------------------------ verdicts
    def close_through(self, minute: int) -> list[CanaryVerdict]:
        """Close every minute up to and including ``minute``; return the verdict changes.

        Only minutes at which some service's window changed are evaluated, so repeated
        calls with the same minute and long jumps cost nothing per empty minute. Changes
        are ordered by minute, then service name.
        """
        minute = int(minute)
        if self.closed_minute is not None and minute <= self.closed_minute:
            return []
        due: list[tuple[int, str, int]] = []
        for s, pend in enumerate(self._pending):
            if not pend:
                continue
            ready = [c for c in pend if c <= minute]
            if not ready:
                continue
            pend.difference_update(ready)
            state = self._state.get(s)
            if state is not None and state.verdict != "":
                due.extend((c, self._names[s], s) for c in ready)
        due.sort()
        changes: list[CanaryVerdict] = []
        for c, _, s in due:
            v = self._evaluate(s, c)
            if v is not None:
                changes.append(v)
        self.closed_minute = minute
        self._evict(minute - self.params.window_minutes)
        return changes

    def _evict(self, through: int) -> None:
        """Free rows of minutes ``<= through``: no later window can contain them."""
        for per_track in self._rows:
            for per_minute in per_track:
                old = [m for m in per_minute if m <= through]
                for m in old:
                    self._free.append(per_minute.pop(m))

    def _window(
        self, s: int, t: int, lo: int, hi: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = [r for m, r in self._rows[s][t].items() if lo <= m <= hi]
        if not rows:
            return (
                np.zeros(len(_SCALARS_INT), dtype=np.int64),
                np.zeros(len(_SCALARS_FLOAT)),
                np.zeros(N_LATENCY_BINS, dtype=np.int64),
            )
        idx = np.asarray(rows, dtype=np.int64)
        return (
            self._ints[idx].sum(axis=0),
            self._floats[idx].sum(axis=0),
            self._hist[idx].sum(axis=0),
        )

    def _evaluate(self, s: int, c: int) -> CanaryVerdict | None:
        p = self.params
        state = self._state[s]
        lo = c - p.window_minutes + 1
        can = self._window(s, CANARY, lo, c)
        ref_track = STABLE
        ref = self._window(s, STABLE, lo, c)
        if ref[0][0] == 0:
            ref_track = BASELINE
            ref = self._window(s, BASELINE, lo, c)
        n_c, n_s = int(can[0][0]), int(ref[0][0])
        metrics: dict[str, dict[str, float]] = {}
        failed: list[str] = []
        if n_c == 0:
            verdict = "inconclusive"
            state.looks = 0  # the comparison ended; the next canary events start a new one
        else:
            alpha_t = math.nan
            if n_s >= p.min_samples and n_c >= p.min_samples:
                state.looks += 1
                alpha_t = spent_alpha(p.alpha, state.looks, len(METRICS))
            metrics = _compare(can, ref, p, alpha_t)
            failed = [k for k in METRICS if metrics[k]["failed"] > 0]
            tested = not math.isnan(alpha_t)
            verdict = ("fail" if failed else "pass") if tested else "inconclusive"
        previous = state.verdict
        if verdict == previous:
            return None
        state.verdict = verdict
        return CanaryVerdict(
            service=self._names[s],
            deployment=state.deployments[CANARY],
            baseline_deployment=state.deployments[ref_track] if n_s else "",
            minute=c,
            verdict=verdict,
            previous=previous,
            window_start_minute=lo,
            window_end_minute=c,
            failed_metrics=tuple(failed),
            metrics=metrics,
        )

    def verdict(self, service: str) -> str:
        """The current verdict of ``service`` (``"inconclusive"`` when it has no canary yet).

        Examples
        --------
        >>> CanaryJudge().verdict("nobody")
        'inconclusive'
        """
        code = self._codes.get(service)
        state = None if code is None else self._state.get(code)
        if state is None or state.verdict == "":
            return "inconclusive"
        return state.verdict

    @property
    def services(self) -> list[str]:
        """Services that have had canary events, sorted."""
        return sorted(self._names[s] for s, st in self._state.items() if st.verdict != "")

    # ------------------------------------------------------------------ checkpoint
    def to_bytes(self) -> bytes:
        """Versioned, compressed checkpoint of the whole state (live window rows only).

        Examples
        --------
        >>> j = CanaryJudge(CanaryParams(window_minutes=5))
        >>> CanaryJudge.from_bytes(j.to_bytes()).params.window_minutes
        5
        """
        keys: list[tuple[int, int, int, int]] = []
        for s, per_track in enumerate(self._rows):
            for t, per_minute in enumerate(per_track):
                keys.extend((s, t, m, r) for m, r in sorted(per_minute.items()))
        key_arr = np.asarray(keys, dtype=np.int64).reshape(-1, 4)
        rows = key_arr[:, 3]
        header = {
            "judge": "canary",
            "version": self.version,
            "params": self.params.to_dict(),
            "closed_minute": self.closed_minute,
            "late_events": self.late_events,
            "dropped_events": self.dropped_events,
            "ignored_events": self.ignored_events,
            "services": self._names,
            "pending": [sorted(p) for p in self._pending],
            "state": {
                str(s): [st.verdict, st.looks, st.deployments, st.deploy_minute]
                for s, st in self._state.items()
            },
        }
        buf = io.BytesIO()
        np.savez(
            buf,
            keys=key_arr[:, :3],
            ints=self._ints[rows],
            floats=self._floats[rows],
            hist=self._hist[rows],
        )
        head = json.dumps(header, separators=(",", ":")).encode()
        payload = zlib.compress(struct.pack(">I", len(head)) + head + buf.getvalue(), 6)
        return _MAGIC + bytes([_FORMAT_VERSION]) + struct.pack(">I", zlib.crc32(payload)) + payload

    @classmethod
    def from_bytes(cls, data: bytes) -> CanaryJudge:
        """Restore a judge from :meth:`to_bytes`; ``ValueError`` on foreign or corrupt data."""
        if len(data) < 9 or data[:4] != _MAGIC:
            raise ValueError(
                "not a tocsin canary checkpoint (bad magic): was it written by tocsin?"
            )
        if data[4] != _FORMAT_VERSION:
            raise ValueError(
                f"canary checkpoint format v{data[4]} is not supported (reads v{_FORMAT_VERSION}): "
                "upgrade tocsin or discard the checkpoint"
            )
        (crc,) = struct.unpack(">I", data[5:9])
        payload = data[9:]
        if zlib.crc32(payload) != crc:
            raise ValueError("corrupt canary checkpoint (checksum mismatch): discard it")
        try:
            raw = zlib.decompress(payload)
            (n,) = struct.unpack(">I", raw[:4])
            header = json.loads(raw[4 : 4 + n])
            with np.load(io.BytesIO(raw[4 + n :]), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            return cls._restore(header, arrays)
        except (
            zlib.error,
            zipfile.BadZipFile,
            struct.error,
            json.JSONDecodeError,
            KeyError,
            TypeError,
            AttributeError,
            OSError,
            EOFError,
            IndexError,
        ) as exc:
            raise ValueError(f"corrupt canary checkpoint: {exc!r}") from exc

    @classmethod
    def _restore(cls, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> CanaryJudge:
        if header.get("judge") != "canary":
            raise ValueError("checkpoint is not a canary judge's")
        judge = cls(CanaryParams(**header["params"]))
        judge.closed_minute = header["closed_minute"]
        judge.late_events = int(header["late_events"])
        judge.dropped_events = int(header["dropped_events"])
        judge.ignored_events = int(header["ignored_events"])
        for name in header["services"]:
            judge._service_code(str(name))
        for s, pend in enumerate(header["pending"]):
            judge._pending[s].update(int(c) for c in pend)
        for s, (verdict, looks, deps, dmin) in header["state"].items():
            st = _ServiceState()
            st.verdict, st.looks = str(verdict), int(looks)
            st.deployments, st.deploy_minute = [str(d) for d in deps], [int(m) for m in dmin]
            judge._state[int(s)] = st
        keys = arrays["keys"]
        n = keys.shape[0]
        judge._alloc(max(64, 2 * n))
        judge._used = n
        judge._ints[:n] = arrays["ints"]
        judge._floats[:n] = arrays["floats"]
        judge._hist[:n] = arrays["hist"]
        for r, (s, t, m) in enumerate(keys.tolist()):
            judge._rows[s][t][m] = r
        return judge


def _compare(
    can: tuple[np.ndarray, np.ndarray, np.ndarray],
    ref: tuple[np.ndarray, np.ndarray, np.ndarray],
    p: CanaryParams,
    alpha_t: float,
) -> dict[str, dict[str, float]]:
    """Every metric's evidence for one window; ``failed`` needs significance and margin."""
    (ci, cf, ch), (si, sf, sh) = can, ref
    tested = not math.isnan(alpha_t)
    out: dict[str, dict[str, float]] = {}

    def proportion(name: str, xc: float, nc: float, xs: float, ns: float, margin: float) -> None:
        z, _ = proportion_z_test(xc, nc, xs, ns)
        # exact p-value on (effective, rounded) counts: the normal tail is wrong for rare events
        nc_i, ns_i = round(nc), round(ns)
        pv = fisher_exact_greater(min(round(xc), nc_i), nc_i, min(round(xs), ns_i), ns_i)
        rc = xc / nc if nc > 0 else math.nan
        rs = xs / ns if ns > 0 else math.nan
        failed = tested and pv <= alpha_t and rc - rs > margin
        out[name] = {
            "canary": rc,
            "stable": rs,
            "statistic": z,
            "p_value": pv,
            "n_canary": float(nc),
            "n_stable": float(ns),
            "alpha_used": alpha_t,
            "margin": margin,
            "failed": 1.0 if failed else 0.0,
        }

    n_c, n_s = float(ci[0]), float(si[0])
    proportion("error_ratio", float(ci[1]), n_c, float(si[1]), n_s, p.min_error_delta)
    proportion("pii_leak_ratio", float(ci[2]), n_c, float(si[2]), n_s, p.min_pii_delta)
    # weighted proportions on Kish effective sample sizes: x_eff / n_eff = weighted ratio
    ne_c = cf[1] ** 2 / cf[2] if cf[2] > 0 else 0.0
    ne_s = sf[1] ** 2 / sf[2] if sf[2] > 0 else 0.0
    pc = cf[0] / cf[1] if cf[1] > 0 else 0.0
    ps = sf[0] / sf[1] if sf[1] > 0 else 0.0
    proportion("toxicity_ratio", pc * ne_c, ne_c, ps * ne_s, ne_s, p.min_toxic_delta)

    z, pv = mann_whitney_from_histograms(ch, sh)
    q = {
        f"{who}_p{k}": histogram_quantile(h, k / 100)
        for who, h in (("canary", ch), ("stable", sh))
        for k in (50, 95)
    }
    slower = any(
        q[f"canary_p{k}"] >= p.latency_ratio * q[f"stable_p{k}"] for k in (50, 95)
    )  # NaN compares False: no latencies, no latency failure
    failed = tested and pv <= alpha_t and slower
    out["latency"] = {
        "canary": q["canary_p95"],
        "stable": q["stable_p95"],
        "statistic": z,
        "p_value": pv,
        "n_canary": float(ch.sum()),
        "n_stable": float(sh.sum()),
        "alpha_used": alpha_t,
        "margin": p.latency_ratio,
        "failed": 1.0 if failed else 0.0,
        **q,
    }
    return out
