"""A label or walk-forward config that would compute nothing, or something other than it says, is refused at
construction, naming the field (the CLI's options refuse the same values before any work)."""

import pytest

from modeling.labels import LabelConfig
from modeling.walkforward import WalkForwardConfig


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"horizon": 0}, "horizon"),
        ({"min_obs": 0}, "min_obs"),
        ({"k_up": 0.0}, "k_up"),
        ({"k_dn": float("nan")}, "k_dn"),
        ({"vol_halflife": -1.0}, "vol_halflife"),
        ({"cusum": -0.5}, "cusum"),
        ({"price": "last"}, "price"),
    ],
)
def test_label_config_names_the_bad_field(kwargs, field):
    with pytest.raises(ValueError, match=f"LabelConfig.*{field}"):
        LabelConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"horizon": 0}, "horizon"),
        ({"folds": 0}, "folds"),
        ({"trials": -1}, "trials"),
        ({"embargo_minutes": -5}, "embargo_minutes"),
        ({"k": 0}, "k"),
        ({"fee_bps": float("nan")}, "fee_bps"),
        ({"model": "xgboost"}, "model"),
        ({"split": "random"}, "split"),
    ],
)
def test_walkforward_config_names_the_bad_field(kwargs, field):
    with pytest.raises(ValueError, match=f"WalkForwardConfig.{field} must"):
        WalkForwardConfig(**kwargs)


def test_the_defaults_and_a_cusum_of_zero_are_accepted():
    assert LabelConfig(cusum=0.0).cusum == 0.0 and WalkForwardConfig().horizon == 5
