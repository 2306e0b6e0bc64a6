"""The champion gate: a challenger must beat the logistic baseline and the current champion out of sample."""

from dataclasses import dataclass


@dataclass
class GateResult:
    passed: bool
    reasons: list[str]
    metadata: dict


def champion_gate(challenger: dict, baseline: dict, champion: dict | None, min_ic_margin: float = 0.0) -> GateResult:
    """Each dict holds out-of-sample ``logloss`` and ``ic`` on the SAME holdout. Lower log-loss and higher IC win.

    >>> champion_gate({"logloss": 0.69, "ic": 0.02}, {"logloss": 0.70, "ic": 0.01}, None).passed
    True
    >>> champion_gate({"logloss": 0.69, "ic": 0.02}, {"logloss": 0.70, "ic": 0.01}, {"logloss": 0.68, "ic": 0.03}).reasons
    ['log-loss 0.69000 not below champion 0.68000', 'IC 0.0200 not above champion 0.0300']
    """
    reasons = []
    if not challenger["logloss"] < baseline["logloss"]:
        reasons.append(f"log-loss {challenger['logloss']:.5f} not below baseline {baseline['logloss']:.5f}")
    if not challenger["ic"] > baseline["ic"] + min_ic_margin:
        reasons.append(f"IC {challenger['ic']:.4f} not above baseline {baseline['ic']:.4f}")
    if champion is not None:
        if not challenger["logloss"] < champion["logloss"]:
            reasons.append(f"log-loss {challenger['logloss']:.5f} not below champion {champion['logloss']:.5f}")
        if not challenger["ic"] > champion["ic"]:
            reasons.append(f"IC {challenger['ic']:.4f} not above champion {champion['ic']:.4f}")
    md = {
        "challenger_logloss": challenger["logloss"],
        "challenger_ic": challenger["ic"],
        "baseline_logloss": baseline["logloss"],
        "baseline_ic": baseline["ic"],
        "champion_logloss": champion["logloss"] if champion else float("nan"),
        "champion_ic": champion["ic"] if champion else float("nan"),
        "threshold": "challenger logloss < baseline and champion; IC > baseline and champion",
        "reasons": "; ".join(reasons) or "beats baseline and champion",
    }
    return GateResult(not reasons, reasons, md)
