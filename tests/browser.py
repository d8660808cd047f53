"""Headless Chromium for the report tests: the DOM a real browser builds from a page, and a screenshot.

Debian's ``chromium`` (``apt-get install -y chromium``; .ci/run installs it). ``--dump-dom`` prints
the document after the browser parsed it and ran whatever would run (nothing, if the page is as
it should be); ``--screenshot`` renders it. Both with a fresh temporary profile and no network use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(exe: str, page: Path, *flags: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
               "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}", *flags, page.as_uri()]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "HOME": profile})


def dump_dom(exe: str, page: Path) -> str:
    proc = _run(exe, page, "--dump-dom", "--virtual-time-budget=2000")
    if proc.returncode != 0 or "<html" not in proc.stdout:
        raise RuntimeError(f"chromium --dump-dom failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return proc.stdout


def screenshot(exe: str, page: Path, png: Path, width: int = 1400, height: int = 2200) -> Path:
    proc = _run(exe, page, f"--screenshot={png}", f"--window-size={width},{height}")
    if not png.is_file():
        raise RuntimeError(f"chromium --screenshot failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return png
