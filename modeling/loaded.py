"""A registered model as serving holds it: the booster, its identity and the code tables it was trained with.

Kept apart from :mod:`modeling.registry` so that what scores a model never imports MLflow."""

import hashlib
from dataclasses import dataclass

import lightgbm as lgb


@dataclass
class LoadedModel:
    booster: lgb.Booster
    version: str
    feature_set_version: str
    feature_names: list[str]
    checksum: str
    trees: int
    leaves: int
    # the categorical code tables of the training data (features.codes); None for a version registered before
    # models kept them
    codes: dict[str, list[str]] | None = None


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
