"""`tickwise audit-features`: the engine's honesty checks run on a researcher's own kernel, and they can fail."""

import numpy as np
import pyarrow as pa
from typer.testing import CliRunner

from features.audit import poisoned
from features.spec import FeatureSpec, Kernel, State, StepInput
from tickwise.cli import app

EXAMPLE = "docs/examples/range_kernel.py:RangeRatio"


class Sticky(Kernel):
    """Keeps its running maximum in the object, not in the state: a restarted scorer forgets it."""

    name = "sticky"

    def __init__(self) -> None:
        self.mx = np.zeros(0)

    def outputs(self) -> list[FeatureSpec]:
        return [FeatureSpec("sticky_max", self.name, 1)]

    def init(self, n: int) -> State:
        return {"n": np.zeros(n)}

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        if len(self.mx) < len(x.close):  # symbols joined
            self.mx = np.r_[self.mx, np.full(len(x.close) - len(self.mx), -np.inf)]
        self.mx = np.where(x.upd, np.fmax(self.mx, x.close), self.mx)
        return {"sticky_max": np.where(np.isinf(self.mx), np.nan, self.mx)}


def test_the_example_kernel_passes_with_the_default_set():
    import doctest
    import importlib.util

    spec = importlib.util.spec_from_file_location("range_kernel", EXAMPLE.split(":")[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = doctest.testmod(module)  # its doctest, which pytest does not collect (docs/ is not a test path)
    assert result.attempted >= 2 and result.failed == 0
    r = CliRunner().invoke(app, ["audit-features", "--kernel", EXAMPLE, "--seeds", "1"])
    assert r.exit_code == 0, r.output
    assert "all 42 features pass" in r.output and "range_ratio (yours)" in r.output


def test_a_kernel_that_keeps_state_outside_its_state_fails_online_vs_offline():
    r = CliRunner().invoke(app, ["audit-features", "--kernel", "tests.features.test_audit:Sticky", "--seeds", "1"])
    assert r.exit_code == 1, r.output
    assert "FAILED sticky_max: online vs offline" in r.output
    assert r.output.count("FAILED") == 1  # only the broken one


def test_poisoning_is_seen_in_any_column_before_the_cut():
    ts = pa.array(np.arange(6) * 60_000_000_000, pa.int64()).cast(pa.timestamp("ns", "UTC"))
    clean = pa.table({"symbol": ["A"] * 6, "ts": ts, "f": [1.0, 2, 3, 4, 5, 6], "g": [1.0] * 6})
    dirty = clean.set_column(2, "f", pa.array([1.0, 2, 3.5, 4, 9, 9]))  # a value at the cut moved
    cut = int(2 * 60_000_000_000)
    assert poisoned(clean, dirty, cut, ["f", "g"]) == ["f"]
    assert poisoned(clean, dirty, cut - 60_000_000_000, ["f", "g"]) == []  # only later values moved


def test_a_bad_kernel_spec_names_what_is_wrong():
    for spec, says in (("nocolon", "give module.path:Name"), ("docs/none.py:X", "no file"),
                       ("tests.features.test_audit:Nope", "has no 'Nope'"),
                       ("tests.features.test_audit:EXAMPLE", "not a features.spec.Kernel")):  # fmt: skip
        r = CliRunner().invoke(app, ["audit-features", "--kernel", spec])
        assert r.exit_code != 0 and says in str(r.exception), (spec, r.exception)
