"""Report pages read by people: figures in tables with units and meanings (no JSON blobs), each page linked to its
runs and to the same day's other reports whichever was written first, and an index of every report."""

import re

from monitoring.report import html_report, publish


def page(root, kind: str, day: str, facts: dict) -> str:
    return html_report(str(root / kind / f"date={day}" / "index.html"), f"{kind} {day}", {}, facts, {})


def test_pages_link_each_other_their_runs_and_an_index(tmp_path):
    root = tmp_path / "reports"
    ev = page(root, "evaluation", "2026-03-02", {"dsr": 0.123456, "p_up_quantiles": {"p01": 0.41, "p99": 0.6}})
    publish(ev, {"MLflow run": "http://mlflow/#/runs/abc", "Dagster run": "http://dagster/runs/r1"})
    drift = page(root, "drift", "2026-03-02", {"features over the PSI threshold": ["ffd_40", "rsi_14"]})
    publish(drift, {"Dagster run": "http://dagster/runs/r2"})
    publish(page(root, "paper", "2026-03-03", {"hit_rate": 0.5}), {})

    first = (root / "evaluation" / "date=2026-03-02" / "index.html").read_text()
    assert "http://mlflow/#/runs/abc" in first and "http://dagster/runs/r1" in first  # its own runs
    assert '"../../drift/date=2026-03-02/index.html"' in first  # a sibling written after it
    assert '"../../paper/' not in first  # another day's report is not this day's
    assert "http://dagster/runs/r1" not in (root / "drift" / "date=2026-03-02" / "index.html").read_text()

    # figures for people: rounded, with the unit and what it means; a mapping as a table, a list as a list
    assert "<td>0.1235 probability</td>" in first and "deflated Sharpe ratio" in first
    assert "{" not in re.sub(r"<style>.*?</style>", "", first) and "<th>p01</th><td>0.41</td>" in first
    assert "ffd_40, rsi_14" in (root / "drift" / "date=2026-03-02" / "index.html").read_text()

    index = (root / "index.html").read_text()
    rows = re.findall(r"<tr><th>(\d{4}-\d\d-\d\d)</th>", index)
    assert rows == ["2026-03-03", "2026-03-02"]  # newest first
    for link in re.findall(r'href="([^"]+)"', index):
        assert (root / link).is_file(), link
