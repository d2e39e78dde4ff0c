"""The report opens in a real browser: headless Chromium screenshots it and the image is
not blank. Skips (with the reason) only when chromium is absent: run scripts/chromium-up.sh."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from analysis.fixtures import write_fixture_run
from analysis.report import build_report
from analysis.source import RunSource


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


def test_report_screenshot_is_not_blank(tmp_path):
    browser = _chromium()
    run = RunSource.open(write_fixture_run(tmp_path / "runs", profile="full", candidates=40))
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
