"""Headless Chromium with the network cut off, to check that `dvc plots show` pages render offline.

Chromium comes from the Debian package `chromium` (.ci/run installs it). Outside CI a machine without it
skips these checks with the reason; in CI (CI=true) a missing browser is a failure, never a skip.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

# Every host name resolves to nothing and every request goes to a closed local port: no byte leaves.
OFFLINE_FLAGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)
_EMBED_CALL = re.compile(r"vegaEmbed\(\s*'#([^']+)'")
_EMBED_DIV = re.compile(r'<div id="([^"]+)" class="vega-embed')


def chromium() -> str:
    """Path of the chromium binary; skips the test outside CI when there is none, fails it in CI."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "headless chromium not installed (Debian: apt-get install -y chromium; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + ", and CI must run the offline plots check")
    pytest.skip(reason)


def _run(page: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [
        chromium(),
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        *OFFLINE_FLAGS,
        "--virtual-time-budget=30000",  # let vega-embed's promises settle before the DOM is read
        *extra,
        page.resolve().as_uri(),
    ]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)


def rendered_dom(page: Path) -> str:
    """The page's DOM after its scripts ran, with the network off."""
    return _run(page, "--dump-dom").stdout


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 1100) -> None:
    """A PNG of the page's top `height` pixels as it renders with the network off."""
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}", "--hide-scrollbars")
    assert png.is_file(), f"chromium wrote no screenshot to {png}"


def embeds(html: str, dom: str) -> tuple[list[str], list[str]]:
    """(every plot the page asks vega-embed to draw, those that produced an svg or canvas in the DOM)."""
    wanted = _EMBED_CALL.findall(html)
    starts = [(m.start(), m.group(1)) for m in _EMBED_DIV.finditer(dom)] + [(len(dom), "")]
    drawn = []
    for (begin, name), (end, _) in itertools.pairwise(starts):
        chunk = dom[begin:end]
        if re.search(r"<svg[^>]*class=\"marks\"|<canvas", chunk) and "<path" in chunk:
            drawn.append(name)
    return wanted, drawn
