"""The report opens in a real browser: headless Chromium screenshots it and the image is
not blank; the page's own self-test (``index.html#selftest``) says every plot drew its
points with hover data and the candidate table sorts. Skips (with the reason) only when
chromium is absent: run scripts/chromium-up.sh."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from analysis.report import build_report
from launcher.build import open_run_source
from tests.support.synthetic_run import write_fixture_run


def _chromium() -> str:
    for c in (
        os.environ.get("ARCHLAB_CHROMIUM", ""),
        "chromium",
        "chromium-browser",
        "google-chrome",
    ):
        if c and (path := shutil.which(c)):
            return path
    pytest.skip(
        "chromium is not installed here (run scripts/chromium-up.sh, or set ARCHLAB_CHROMIUM)"
    )


def _screenshot(browser: str, url: str, png, profile) -> subprocess.CompletedProcess[str]:
    args = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        "--window-size=1280,2000",
        url,
    ]
    return subprocess.run(args, capture_output=True, text=True, timeout=180)


def selftest(browser: str, index: Path, profile: Path) -> dict[str, Any]:
    """Open ``index#selftest`` headless and return what the page found about itself."""
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            f"--user-data-dir={profile}", "--window-size=1280,1000",
            "--virtual-time-budget=30000", "--dump-dom", index.resolve().as_uri() + "#selftest"]  # fmt: skip
    out = subprocess.run(args, capture_output=True, text=True, timeout=180)
    m = re.search(r'data-selftest="([^"]*)"', out.stdout)
    assert m, f"the page wrote no self-test result (rc {out.returncode}): {out.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(html.unescape(m.group(1)))
    return result


def check_rendered(result: dict[str, Any]) -> None:
    """Every plot has a drawing of real size with points in it and hover data."""
    assert result["plots"], "no plots"
    for p in result["plots"]:
        assert p["width"] > 300 and p["height"] > 150, p  # not collapsed to nothing
        assert p["drawn"] > 0, f"plot {p['id']} drew no points: {p}"
        assert p["hover"], f"plot {p['id']} has no hover data"
    s = result["sort"]
    assert float(s["desc_first"]) == s["max"] and float(s["asc_first"]) == s["min"]


def test_report_screenshot_is_not_blank(tmp_path):
    browser = _chromium()
    run = open_run_source(write_fixture_run(tmp_path / "runs", profile="full", candidates=40))
    res = build_report(run, out_dir=tmp_path / "report")
    png = tmp_path / "shot.png"
    out = _screenshot(browser, res.index.resolve().as_uri(), png, tmp_path / "profile")
    assert png.is_file(), (
        f"chromium wrote no screenshot (rc {out.returncode}): {out.stderr[-2000:]}"
    )
    img = np.asarray(Image.open(png).convert("RGB"), dtype=float)
    assert img.shape[:2] == (2000, 1280)
    gray = img.mean(axis=2)
    assert gray.std() > 20, "the screenshot is blank"
    assert (gray < 128).mean() > 0.01, (
        "the screenshot has almost no dark pixels (no text, no plots)"
    )
    # the header bar (dark blue) and a rendered plot (many distinct colours) are visible
    assert gray[:40].mean() < 100
    assert len(np.unique(img[200:].reshape(-1, 3).astype(np.uint8), axis=0)) > 200


def test_report_plots_render_with_hover_and_the_table_sorts(tmp_path):
    browser = _chromium()
    run = open_run_source(write_fixture_run(tmp_path / "runs", profile="full", candidates=80))
    res = build_report(run, out_dir=tmp_path / "report")
    result = selftest(browser, res.index, tmp_path / "profile")
    check_rendered(result)
    assert {p["id"] for p in result["plots"]} == {f.id for f in res.figures}
