"""`physgen report`: results.json (versioned), matrix.csv, the figures, annotated frames and one HTML
page that carries its images inline."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_the_report_of_an_eval_run_is_complete_and_self_contained(tmp_path):
    from physgen.evaluation.results import RESULTS_SCHEMA, RESULTS_VERSION, build
    from physgen.evaluation.run import PolicySpec, evaluate_resumable

    evaluate_resumable([PolicySpec.parse("expert"), PolicySpec.parse("chance")], ["stability"], 3, 0, "train",
                       tmp_path)
    results, matrix = build(tmp_path)
    assert (results["schema"], results["version"]) == (RESULTS_SCHEMA, RESULTS_VERSION)
    assert results["episodes"] == 6 and matrix.rows == ["expert", "chance"] and matrix.columns == ["stability"]
    assert json.loads((tmp_path / "results.json").read_text())["matrix"]["base"] == "expert"
    assert (tmp_path / "matrix.csv").read_text().count("\n") == 3
    assert (tmp_path / "figures" / "matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(results["frames"]) == 2 and all((tmp_path / f).is_file() for f in results["frames"])
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and page.count("data:image/jpeg;base64,") == 2
    assert "http" not in page.replace("http-equiv", "")  # opens offline: nothing to fetch
    assert "100% [" in page and results["environment"]["packages"]["pybullet"]
