"""Safety: a momentum-persistence fallback when the model fails, and a circuit breaker on degenerate output."""

from collections import deque
from dataclasses import dataclass, field

import numpy as np


def momentum_fallback(roc_5: np.ndarray, rv: np.ndarray, strength: float = 0.1) -> np.ndarray:
    """``p_up = 0.5 + strength * tanh(z)``, z = the 5-bar return in units of 5-bar volatility; 0.5 if unknown.

    >>> momentum_fallback(np.array([0.01, -0.01, np.nan]), np.array([0.002, 0.002, 0.002])).round(3).tolist()
    [0.598, 0.402, 0.5]
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        z = roc_5 / (rv * np.sqrt(5.0))
    return np.where(np.isfinite(z), 0.5 + strength * np.tanh(z), 0.5)


class MomentumFallback:
    """The fallback over a feature set: reads the columns the feature set declares for its roles
    (``FeatureEngine.fallback_inputs``: ``momentum``, a 5-bar return; ``volatility``, a 1-bar volatility), found
    once, so a feature set without them fails at start-up naming the missing one, not at the first failing model."""

    roles = ("momentum", "volatility")

    def __init__(self, names: list[str], inputs: dict[str, str]):
        undeclared = [r for r in self.roles if r not in inputs]
        if undeclared:
            raise ValueError(
                f"the momentum fallback needs inputs for roles {undeclared}; the feature set declares {sorted(inputs)}"
            )
        missing = [inputs[r] for r in self.roles if inputs[r] not in names]
        if missing:
            raise ValueError(f"the momentum fallback needs features {missing}, which this feature set lacks")
        self._cols = [names.index(inputs[r]) for r in self.roles]

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        return momentum_fallback(rows[:, self._cols[0]], rows[:, self._cols[1]])


@dataclass
class CircuitBreaker:
    """Trips when the cycle's mean ``p_up`` or its share above 0.5 leaves bounds, or its predictions stop differing
    across names (standard deviation under ``min_std`` over at least ``min_names``: a ranking of equal values is
    noise, as when a model's inputs all went missing), for ``trip_after`` cycles in a row; resets after
    ``reset_after`` healthy cycles. While tripped, signals are neutralized (``p_up = 0.5``)."""

    mean_bounds: tuple[float, float] = (0.35, 0.65)
    share_bounds: tuple[float, float] = (0.05, 0.95)
    min_std: float = 1e-4
    min_names: int = 20  # a minute with fewer names (the first of the open, say) may well agree
    trip_after: int = 3
    reset_after: int = 5
    tripped: bool = False
    _bad: int = 0
    _good: int = 0
    history: deque = field(default_factory=lambda: deque(maxlen=1000))

    def healthy(self, p: np.ndarray) -> bool:
        if len(p) == 0:
            return True
        m, share = float(np.mean(p)), float(np.mean(p > 0.5))
        flat = len(p) >= self.min_names and not float(np.std(p)) >= self.min_std  # NaN is flat too
        bounded = (
            self.mean_bounds[0] <= m <= self.mean_bounds[1] and self.share_bounds[0] <= share <= self.share_bounds[1]
        )
        return bounded and not flat

    def update(self, p: np.ndarray) -> tuple[bool, str | None]:
        """Feed one cycle's predictions; returns (tripped now, an event: 'tripped' / 'reset' / None)."""
        ok = self.healthy(p)
        self.history.append((float(np.mean(p)) if len(p) else 0.5, ok))
        event = None
        if ok:
            self._good, self._bad = self._good + 1, 0
            if self.tripped and self._good >= self.reset_after:
                self.tripped, event = False, "reset"
        else:
            self._bad, self._good = self._bad + 1, 0
            if not self.tripped and self._bad >= self.trip_after:
                self.tripped, event = True, "tripped"
        return self.tripped, event

    def state(self) -> list:
        return [self.tripped, self._bad, self._good]

    def restore(self, state: list) -> None:
        self.tripped, self._bad, self._good = bool(state[0]), int(state[1]), int(state[2])
