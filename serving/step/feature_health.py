"""Live input and feature health: a column that goes missing for much of the cross-section is seen within minutes,
not at the end of the day's drift report (decision 024).

The scorer watches each feature and the bars' two-sided quote. A quote feed lost does not leave the spread
features missing: the engine keeps a symbol's last usable quote (a bar without one changes nothing), so they go
stale instead, and only the bars show it. Each cycle's share of names missing each column is compared with the
column's usual share, an EWM over earlier cycles. A share more than ``rise`` above the usual one for ``sustain``
cycles in a row is an outage; it ends when the share comes back within ``rise / 2`` of it. The usual share learns
only from cycles that are not part of a rise, so an outage never becomes the norm. Only a rise counts: a cold
engine's features fill in as their windows do, so their missing shares fall through the first minutes. A scorer
that starts from the batch path's state starts from that session's usual shares too (:meth:`FeatureHealth.seed`,
``serving.app.runtime.seed_health``), so an outage already under way at start-up alerts within minutes.

>>> h = FeatureHealth(["two-sided quote", "rsi_14"], warmup=2, sustain=2)
>>> ok, lost = np.zeros((50, 2)), np.c_[np.full(50, np.nan), np.zeros(50)]
>>> [h.update(ok) for _ in range(3)], h.update(lost), h.update(lost)
([[], [], []], [], ['two-sided quote missing for 100% of 50 names (usually 0%)'])
>>> h.missing, h.update(ok)
(['two-sided quote'], ['two-sided quote back: missing for 0% of 50 names (usually 0%)'])
"""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class FeatureHealth:
    names: list[str]
    rise: float = 0.4  # absolute: 40 points of the names above the usual share
    halflife: float = 30.0  # cycles
    warmup: int = 30  # cycles of history before the usual share is trusted
    sustain: int = 3  # cycles in a row
    min_names: int = 20  # a cycle with fewer names (the first of the open, say) is not judged
    usual: np.ndarray = field(init=False, repr=False)
    _streak: np.ndarray = field(init=False, repr=False)
    _out: np.ndarray = field(init=False, repr=False)
    _seen: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        k = len(self.names)
        self.usual, self._streak, self._out = np.zeros(k), np.zeros(k, np.int64), np.zeros(k, bool)

    @property
    def missing(self) -> list[str]:
        """The features in an outage now."""
        return [n for n, o in zip(self.names, self._out, strict=True) if o]

    def update(self, rows: np.ndarray) -> list[str]:
        """Judge one cycle's rows (names x columns, NaN where missing); the alerts it raises (an outage begins or
        ends)."""
        return self.judge(np.isnan(rows).mean(axis=0), len(rows))

    def judge(self, share: np.ndarray, n: int) -> list[str]:
        """:meth:`update` on the cycle's missing share per column, over ``n`` names."""
        if n < self.min_names:
            return []
        said: list[str] = []
        quiet = np.ones(len(self.names), bool)
        if self._seen >= self.warmup:
            high = share - self.usual > self.rise
            self._streak = np.where(high, self._streak + 1, 0)
            begins = (self._streak >= self.sustain) & ~self._out
            ends = self._out & (share - self.usual <= self.rise / 2)
            said += [self._say(j, "missing for", share, n) for j in np.flatnonzero(begins)]
            said += [self._say(j, "back: missing for", share, n) for j in np.flatnonzero(ends)]
            self._out = (self._out | begins) & ~ends
            quiet = ~self._out & ~high
        a = max(1.0 - 0.5 ** (1.0 / self.halflife), 1.0 / (self._seen + 1))  # a plain mean over the first cycles
        self.usual = np.where(quiet, self.usual + a * (share - self.usual), self.usual)
        self._seen += 1
        return said

    def seed(self, usual: np.ndarray) -> None:
        """Start from usual shares known from elsewhere (:func:`usual_shares` of the batch path's last session), as
        if ``warmup`` cycles had shown them: an outage already under way when the scorer starts is judged from its
        first cycles instead of being learned as the norm."""
        self.usual = np.clip(np.asarray(usual, float), 0.0, 1.0)
        self._seen = max(self._seen, self.warmup)

    def _say(self, j: int, what: str, share: np.ndarray, n: int) -> str:
        return f"{self.names[j]} {what} {share[j]:.0%} of {n} names (usually {self.usual[j]:.0%})"


def usual_shares(ts: np.ndarray, missing: np.ndarray, minutes: int = 60) -> np.ndarray:
    """Each column's usual missing share from a session's rows (``missing``: rows x columns, True where missing;
    ``ts`` the rows' minutes): the median over its last ``minutes`` minutes of each minute's share, past the
    open's warm-ups and robust to a few odd minutes.

    >>> ts = np.repeat(np.arange(4), 10)
    >>> miss = np.c_[ts == 0, np.arange(40) % 10 == 0]  # the first minute lacks column 0; a name in ten column 1
    >>> usual_shares(ts, miss, minutes=3).tolist()
    [0.0, 0.1]
    """
    stamps, at = np.unique(ts, return_inverse=True)
    per = np.zeros((len(stamps), missing.shape[1]))
    np.add.at(per, at, missing)
    per /= np.bincount(at, minlength=len(stamps))[:, None]
    return np.median(per[-minutes:], axis=0) if len(stamps) else np.zeros(missing.shape[1])
