"""The categorical codes of a feature set (``symbol_id``, ``sector_id``), and translating them for a model.

The engine gives a symbol the next free code when it first meets it: its registration order, kept in the state
and in every ``features_1m`` file's metadata. Codes are therefore stable along one pipeline's history, but not
between two pipelines that started on different days or universes (a research lake and the production one, a
backfill from another first day). A model keeps the code tables of the data it was trained on; before it
predicts, an engine's codes are translated to the model's. A name the model never saw becomes missing (NaN),
which a tree sends down its "not in the category" branch: never another symbol's code.

>>> t = translation(["AAA", "BBB", "CCC"], ["BBB", "AAA", "DDD"])
>>> t
array([ 1.,  0., nan])
>>> X = np.array([[0.0, 5.0], [2.0, 6.0], [1.0, 7.0], [np.nan, 8.0]])
>>> recode(X, ["symbol_id", "x"], {"symbol_id": t})
>>> X[:, 0]
array([ 1., nan,  0., nan])
>>> differing(["AAA", "BBB", "CCC"], ["BBB", "AAA", "CCC", "DDD"])
['BBB', 'AAA']
"""

import json
from collections.abc import Mapping

import numpy as np

METADATA_KEYS = {"symbol_id": "tickwise.symbol_codes", "sector_id": "tickwise.sector_codes"}


def from_metadata(md: Mapping) -> dict[str, list[str]]:
    """The code tables a ``features_1m`` file's metadata records (keys bytes or str), by feature name."""
    out = {}
    for name, key in METADATA_KEYS.items():
        raw = md.get(key.encode(), md.get(key))
        if raw is not None:
            out[name] = list(json.loads(raw))
    return out


def index(table: list[str]) -> dict[str, int]:
    """A code table as name -> code."""
    return {s: i for i, s in enumerate(table)}


def translation(model: list[str] | dict[str, int], engine: list[str], first: int = 0) -> np.ndarray:
    """For each engine code from ``first`` on, the model's code of the same name (NaN where the model has none).
    ``model`` is the model's table or its :func:`index`."""
    at = model if isinstance(model, dict) else index(model)
    return np.array([at.get(s, np.nan) for s in engine[first:]], np.float64)


def recode(X: np.ndarray, names: list[str], tables: Mapping[str, np.ndarray]) -> None:
    """In place: each categorical column of ``X`` through its translation. Values outside the engine's table
    (NaN, the ``sector_id`` -1 of a symbol without a sector) are left as they are."""
    for name, tr in tables.items():
        col = X[:, names.index(name)]
        ok = (col >= 0) & (col < len(tr))  # NaN compares false
        col[ok] = tr[col[ok].astype(np.int64)]


def recoded(X: np.ndarray, names: list[str], model: Mapping[str, list[str]], data: Mapping[str, list[str]]):
    """A copy of ``X`` (coded as ``data``'s tables say) in the codes of a model keeping ``model``'s tables."""
    X = np.array(X, copy=True)
    recode(X, names, {k: translation(model[k], list(data[k])) for k in METADATA_KEYS if k in model and k in data})
    return X


def differing(model: list[str] | dict[str, int], engine: list[str], first: int = 0) -> list[str]:
    """Names of ``engine[first:]`` that the model keeps under another code."""
    at = model if isinstance(model, dict) else index(model)
    return [s for i, s in enumerate(engine[first:], first) if at.get(s, i) != i]


def of_days(metadata: Mapping[str, Mapping]) -> dict[str, list[str]]:
    """The code tables of a training window: the newest day's (the registry only grows, so they hold every earlier
    day's codes), after checking each earlier day's tables are a prefix of them. A day coded by another pipeline
    (features rematerialized from another first day) raises ``ValueError`` naming it: its ids would mean other
    symbols than the rest of the window's."""
    if not metadata:
        return {}
    newest = from_metadata(metadata[max(metadata)])
    for day in sorted(metadata):
        for k, table in from_metadata(metadata[day]).items():
            if newest.get(k, [])[: len(table)] != table:
                raise ValueError(
                    f"features_1m of {day} codes {k} differently from {max(metadata)}: rematerialize the window "
                    "from one pipeline's state"
                )
    return newest
