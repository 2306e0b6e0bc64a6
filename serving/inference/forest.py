"""A LightGBM model as flat arrays over binned features: built in seconds, exact, and walked by compiled code.

A trained GBDT only compares a feature with its own split thresholds, so each feature value can be replaced by the
index of the interval between that feature's sorted thresholds (its bin) without changing a single decision:
``x <= t_k`` holds exactly when ``bin(x) <= k``, where ``bin(x)`` counts the thresholds below ``x``. Categorical
splits test the category code (``int(x)``) against a bitset. Missing values follow LightGBM's own rules
(``Tree::NumericalDecision`` / ``CategoricalDecision``): per feature its missing type — NaN read as 0 when the
type is None, NaN to the node's default side when it is NaN, NaN or |x| <= 1e-35 to the default side when it is
Zero; otherwise |x| <= 1e-35 is read as 0.0, since LightGBM's predict drops it from the row as a zero — and NaN, negative or unknown categories go right. So :meth:`Forest.codes` turns a float row into uint16
codes once, and :mod:`serving.inference.forest_walk` walks every tree over the codes, summing the leaves in tree order as
LightGBM does: the same raw score, the same float.

A model this form cannot hold (linear trees, a feature split both ways, more than 65,534 thresholds or categories
on one feature) raises :class:`Unsupported`; the model runtime then uses its fallbacks (lleaves, LightGBM).
"""

import math
import re
from dataclasses import dataclass

import numpy as np
from numba import njit

MISSING = np.uint16(65535)  # a numerical feature's missing value (default side), or a category no bitset holds
ZERO = 1.0000000180025095e-35  # LightGBM's kZeroThreshold, a float, read as a double
_NONE, _ZERO_T, _NAN_T = 0, 1, 2  # missing types: decision_type >> 2 & 3


class Unsupported(ValueError):
    """A model (or part of one) this form does not represent."""


@dataclass
class Forest:
    """Every tree's nodes flat, and how features become codes."""

    n_features: int
    objective: str
    sigmoid: float
    feature: np.ndarray  # int32 per node
    threshold: np.ndarray  # int32 per node: the bin index k (numerical) or the bitset's first word (categorical)
    words: np.ndarray  # int32 per node: the bitset's length in words (0 for a numerical node)
    default_left: np.ndarray  # uint8 per node
    left: np.ndarray  # int32 per node: a node, or ~leaf (a global leaf index) when negative
    right: np.ndarray
    roots: np.ndarray  # int32 per tree: its root node, or ~leaf for a one-leaf tree
    leaf_value: np.ndarray  # float64 per leaf
    bits: np.ndarray  # uint32: every categorical bitset
    bounds: list[np.ndarray]  # per feature: its sorted distinct thresholds (numerical)
    kind: np.ndarray  # per feature: 0 unused, 1 numerical, 2 categorical
    missing: np.ndarray  # per feature: its missing type

    @property
    def trees(self) -> int:
        return len(self.roots)

    def codes(self, X: np.ndarray) -> np.ndarray:
        """Rows of float features (``(n, n_features)``) as uint16 codes, C-ordered (compiled: ~1 ms for 5,000
        rows x 41 features)."""
        if not hasattr(self, "_flat"):  # each feature's thresholds padded with +inf to a power of two
            sizes = [1 << int(np.ceil(np.log2(len(b) + 1))) for b in self.bounds]
            self._flat = np.concatenate(
                [np.r_[b, np.full(n - len(b), np.inf)] for b, n in zip(self.bounds, sizes, strict=True)]
            )
            self._offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
        X = np.ascontiguousarray(X, np.float64)
        out = np.empty(X.shape, np.uint16)  # (compiled, released from the GIL: two threads bin halves at once)
        _codes(X, self.kind, self.missing, self._flat, self._offsets, out)
        return out

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Raw scores as LightGBM's ``predict`` returns them (the binary objective's sigmoid)."""
        if self.objective == "binary":
            return 1.0 / (1.0 + np.exp(-self.sigmoid * raw))
        return raw


@njit(cache=True, nogil=True)
def _codes(X, kind, missing, flat, offsets, out):  # type: ignore[no-untyped-def]
    """:meth:`Forest.codes`: per value, its bin (a binary search over its feature's thresholds) or category."""
    n, m = X.shape
    for r in range(n):
        for j in range(m):
            x = X[r, j]
            k = kind[j]
            if k == 0:
                out[r, j] = 0
            elif k == 2:  # LightGBM: NaN or a negative int(x) goes right, as does a category no bitset holds
                out[r, j] = (
                    MISSING if (np.isnan(x) or x <= -1.0 or x >= 65535.0) else np.uint16(np.trunc(x)) if x >= 0 else 0
                )
            else:
                mt = missing[j]
                if np.isnan(x):
                    if mt != _NONE:
                        out[r, j] = MISSING
                        continue
                    x = 0.0
                elif -ZERO <= x <= ZERO:  # LightGBM's predict drops such a value from the row: it reads 0.0
                    if mt == _ZERO_T:
                        out[r, j] = MISSING
                        continue
                    x = 0.0
                lo = offsets[j]
                pos, step = 0, (offsets[j + 1] - lo) >> 1  # thresholds below x (searchsorted, side="left"): a
                while step > 0:  # fixed number of halvings over the padded run, no branch on the data
                    pos += step if flat[lo + pos + step - 1] < x else 0
                    step >>= 1
                out[r, j] = pos


def _ints(v: str) -> np.ndarray:
    return np.array(v.split(), np.int64) if v else np.empty(0, np.int64)


def _floats(v: str) -> np.ndarray:
    return np.array(v.split(), np.float64) if v else np.empty(0, np.float64)


def _trees(text: str) -> list[dict[str, str]]:
    body = text.split("end of trees")[0]
    out = []
    for block in re.split(r"\n\nTree=\d+\n", body)[1:]:
        out.append(dict(line.split("=", 1) for line in block.strip().splitlines() if "=" in line))
    return out


def build(text: str) -> Forest:
    """The forest of a LightGBM text model (``Booster.model_to_string()``)."""
    head = dict(line.split("=", 1) for line in text.split("\n\nTree=")[0].splitlines() if "=" in line)
    if int(head.get("num_class", 1)) != 1 or int(head.get("num_tree_per_iteration", 1)) != 1:
        raise Unsupported("multiclass models are walked by LightGBM")
    if "average_output" in text.split("\n\nTree=")[0]:
        raise Unsupported("random-forest (average_output) models are walked by LightGBM")
    obj = head.get("objective", "").split()
    objective = obj[0] if obj else "regression"
    sigmoid = float(next((o.split(":")[1] for o in obj[1:] if o.startswith("sigmoid:")), 1.0))
    n_features = int(head["max_feature_idx"]) + 1
    if n_features > 255:
        raise Unsupported("more than 255 features")
    trees = _trees(text)
    kind = np.zeros(n_features, np.int64)
    missing = np.full(n_features, -1, np.int64)
    thresholds: list[list[float]] = [[] for _ in range(n_features)]
    for t in trees:
        if t.get("is_linear", "0") != "0":
            raise Unsupported("linear trees are walked by LightGBM")
        feat, dec, thr = (
            _ints(t.get("split_feature", "")),
            _ints(t.get("decision_type", "")),
            _floats(t.get("threshold", "")),
        )
        for f, d, th in zip(feat, dec, thr, strict=True):
            k = 2 if d & 1 else 1
            if kind[f] not in (0, k):
                raise Unsupported(f"feature {f} is split both as a category and as a number")
            kind[f] = k
            if k == 1:
                mt = (d >> 2) & 3
                if missing[f] not in (-1, mt):
                    raise Unsupported(f"feature {f} has splits with different missing types")
                missing[f] = mt
                thresholds[f].append(th)
    bounds = [np.unique(np.array(v, np.float64)) for v in thresholds]
    if any(len(b) >= int(MISSING) for b in bounds):
        raise Unsupported("a feature has more than 65,534 thresholds")
    return _flatten(trees, n_features, objective, sigmoid, bounds, kind, np.maximum(missing, 0))


def _flatten(trees, n_features, objective, sigmoid, bounds, kind, missing) -> Forest:  # type: ignore[no-untyped-def]
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("feature", "threshold", "words", "default_left", "left", "right")
    }
    roots, leaves, bits = [], [], []
    n_nodes = n_leaves = n_bits = 0
    for t in trees:
        lv = _floats(t["leaf_value"])
        if int(t["num_leaves"]) == 1:
            roots.append(~n_leaves)
            leaves.append(lv[:1])
            n_leaves += 1
            continue
        feat, dec = _ints(t["split_feature"]), _ints(t["decision_type"])
        thr = _floats(t["threshold"])
        cb, ct = _ints(t.get("cat_boundaries", "")), _ints(t.get("cat_threshold", ""))
        k = np.zeros(len(feat), np.int64)
        words = np.zeros(len(feat), np.int64)
        for i, (f, d) in enumerate(zip(feat, dec, strict=True)):
            if d & 1:
                ci = int(thr[i])
                k[i], words[i] = n_bits + cb[ci], cb[ci + 1] - cb[ci]
            else:
                k[i] = int(np.searchsorted(bounds[f], thr[i]))  # its own index among the feature's thresholds
        lc, rc = _ints(t["left_child"]), _ints(t["right_child"])
        cols["feature"].append(feat)
        cols["threshold"].append(k)
        cols["words"].append(words)
        cols["default_left"].append((dec >> 1) & 1)
        cols["left"].append(_shift(lc, n_nodes, n_leaves))
        cols["right"].append(_shift(rc, n_nodes, n_leaves))
        roots.append(n_nodes)
        leaves.append(lv)
        bits.append(ct)
        n_nodes += len(feat)
        n_leaves += len(lv)
        n_bits += len(ct)
    cat = lambda k, dt: np.concatenate(cols[k]).astype(dt) if cols[k] else np.empty(0, dt)  # noqa: E731
    return Forest(
        n_features, objective, sigmoid,
        cat("feature", np.int32), cat("threshold", np.int32), cat("words", np.int32), cat("default_left", np.uint8),
        cat("left", np.int32), cat("right", np.int32), np.array(roots, np.int32),
        np.concatenate(leaves).astype(np.float64) if leaves else np.empty(0),
        (np.concatenate(bits) if bits else np.empty(0, np.int64)).astype(np.uint32),
        bounds, kind, missing,
    )  # fmt: skip


def _shift(child: np.ndarray, nodes: int, leaves: int) -> np.ndarray:
    """A tree's child indices in the forest's numbering (nodes after ``nodes``, leaves after ``leaves``)."""
    return np.where(child >= 0, child + nodes, ~(~child + leaves))


def ns_per_tree_row(ms: float, rows: int, trees: int) -> float:
    return ms * 1e6 / max(rows * trees, 1) if math.isfinite(ms) else float("nan")
