"""The report in a real headless browser: Debian's chromium (``make browser`` installs it).

    from pipeline.report.browser import check, screenshot
    problems = check(page)                    # [] when the page rendered without errors
    screenshot(page, "docs/report-screenshot.png")

Chromium is started with ``--headless --no-sandbox --disable-gpu --no-first-run
--disable-background-networking`` (plus a few flags that keep it quiet and offline), a throw-away
profile directory, and ``--enable-logging=stderr --v=0`` so console errors reach its stderr.

``check`` loads the page with ``--dump-dom`` and reads back what the page's own script wrote on the
``<html>`` element: ``data-rendered="1"`` (its load handler ran) and ``data-js-errors`` (any uncaught
error or rejected promise); it also scans chromium's log for uncaught errors, CSP violations and
failed loads (the page must need no network).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--mute-audio", "--disable-extensions", "--disable-default-apps"]
BAD_LOG = re.compile(r"Uncaught|Refused to|Content Security Policy|net::ERR_|Failed to load resource", re.I)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DEFAULT_SIZE = (1280, 2400)


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str | None:
    """Path of the chromium binary (``$WINNOW_CHROMIUM`` wins), or None when not installed."""
    env = os.environ.get("WINNOW_CHROMIUM")
    if env:
        return env if Path(env).exists() else shutil.which(env)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    return None


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def bad_log_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if BAD_LOG.search(ln)]


def run_chromium(args: list[str], timeout: float = 120) -> Run:
    """Run headless chromium once with a throw-away profile; raises BrowserError if it is absent."""
    exe = find_chromium()
    if exe is None:
        raise BrowserError("chromium not found (Debian: `make browser` or `apt-get install -y chromium`)")
    with tempfile.TemporaryDirectory(prefix="winnow-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args]
        env = {**os.environ, "HOME": profile}  # chromium writes caches under $HOME
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise BrowserError(f"chromium timed out after {timeout:.0f}s: {' '.join(cmd)}") from e
    return Run(p.returncode, p.stdout, p.stderr)


def _url(page: str | os.PathLike) -> str:
    p = Path(page)
    if p.is_dir():
        p = p / "index.html"
    if not p.is_file():
        raise BrowserError(f"no such page: {p}")
    return p.resolve().as_uri()


def dump_dom(page: str | os.PathLike, budget_ms: int = 5000, timeout: float = 120) -> Run:
    """The DOM after the page's scripts ran (``--dump-dom``) in ``stdout``; chromium's log in ``stderr``."""
    return run_chromium(["--dump-dom", f"--virtual-time-budget={budget_ms}", _url(page)], timeout=timeout)


def check(page: str | os.PathLike, timeout: float = 120) -> list[str]:
    """Problems found rendering ``page`` (index.html or its directory); [] when it rendered cleanly."""
    r = dump_dom(page, timeout=timeout)
    problems = []
    if r.returncode != 0:
        problems.append(f"chromium exited {r.returncode}: {r.stderr[-1000:]}")
    root = re.search(r"<html[^>]*>", r.stdout)
    if root is None:
        problems.append("no <html> element in the dumped DOM")
    else:
        tag = root.group()
        if 'data-rendered="1"' not in tag:
            problems.append("the page's load handler did not run (no data-rendered on <html>)")
        m = re.search(r'data-js-errors="([^"]*)"', tag)
        if m:
            problems.append(f"script errors: {m.group(1)}")
    problems += [f"chromium log: {ln.strip()}" for ln in r.bad_log_lines()]
    return problems


def screenshot(page: str | os.PathLike, out_png: str | os.PathLike, width: int = DEFAULT_SIZE[0],
               height: int = DEFAULT_SIZE[1], timeout: float = 120) -> Path:
    """Render ``page`` (index.html or its directory) at ``width`` x ``height`` CSS pixels into a PNG."""
    out = Path(out_png).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}.png")
    tmp.unlink(missing_ok=True)
    try:
        r = run_chromium([f"--screenshot={tmp}", f"--window-size={width},{height}", "--virtual-time-budget=5000",
                          _url(page)], timeout=timeout)
        if not tmp.is_file() or tmp.read_bytes()[:8] != PNG_MAGIC:
            raise BrowserError(f"chromium wrote no PNG (exit {r.returncode}): {r.stderr[-1500:]}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def png_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    head = Path(path).read_bytes()[:24]
    if head[:8] != PNG_MAGIC or head[12:16] != b"IHDR":
        raise ValueError(f"{path}: not a PNG")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
