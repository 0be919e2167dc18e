"""The course website in a real browser, offline: Chromium with every request outside 127.0.0.1 blocked.

The site is built once (``site/build_site.py``, what ``make site`` runs, into a temporary ``_build``) and
served by ``python -m http.server`` on 127.0.0.1. For the landing page and every lecture and lab page:
the page loads with no console error and no failed request; every image has loaded (naturalWidth > 0);
on pages with equations, MathJax has typeset them (``mjx-container`` elements, no raw ``\\(`` left); plotly
charts are drawn (an SVG inside the chart). Navigation: the landing page's unit map leads to a lecture,
and each lecture's "next" link leads to the next page of the table of contents.
Skipped with a reason without Playwright, Chromium, Jupyter Book or the npm MathJax (``npm ci --prefix site``).
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from test_browser import CHROMIUM, sync_playwright   # the same Chromium and Playwright as the JupyterLab tests

ROOT = Path(__file__).resolve().parents[1]
MATHJAX = ROOT / "site" / "node_modules" / "mathjax" / "es5" / "tex-mml-chtml.js"

pytestmark = [
    pytest.mark.full,
    pytest.mark.skipif(sync_playwright is None, reason="Playwright is not installed (pip install -e '.[test]')"),
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium not found (apt-get install chromium); site browser test skipped"),
    pytest.mark.skipif(importlib.util.find_spec("jupyter_book") is None,
                       reason="Jupyter Book is not installed (pip install -e '.[site]')"),
    pytest.mark.skipif(not MATHJAX.is_file() and shutil.which("npm") is None,
                       reason="MathJax not fetched and no npm to fetch it (npm ci --prefix site)"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site into a temporary _build and serve it on 127.0.0.1; yield ``(base_url, html_dir)``."""
    import sys
    sys.path.insert(0, str(ROOT / "site"))
    try:
        import build_site
    finally:
        sys.path.remove(str(ROOT / "site"))
    out = tmp_path_factory.mktemp("site") / "_build"
    html = build_site.build(out, hub_url="https://hub.example.edu", repo_url="https://github.com/example-org/course",
                            branch="main", binder_url=None)
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", html
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D401 - keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


class OfflinePage:
    """A page whose requests outside 127.0.0.1 are aborted and recorded, with its console errors."""

    def __init__(self, browser):
        self.ctx = browser.new_context(viewport={"width": 1300, "height": 900})
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.ctx.route("**/*", self._route)
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(60_000)
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))

    def _route(self, route):
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def open(self, url: str) -> None:
        """Load ``url``; wait for MathJax to finish and for every image to be complete (loaded or broken)."""
        self.page.goto(url, wait_until="load")
        self.page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        self.page.evaluate("() => MathJax.startup.promise")
        self.page.wait_for_function("() => [...document.images].every(i => i.complete)")

    def close(self) -> None:
        self.ctx.close()


def _pages(html: Path) -> list[str]:
    return ["index.html", *sorted(f"lectures/{p.name}" for p in (html / "lectures").glob("*.html")),
            *sorted(f"labs/{p.name}" for p in (html / "labs").glob("*.html"))]


def test_every_page_loads_offline_with_images_equations_and_charts(site, browser):
    base, html = site
    pages = _pages(html)
    lectures = [p for p in pages if p.startswith("lectures/")]
    assert len(lectures) == len(list((ROOT / "lectures").glob("[0-9][0-9]*.ipynb")))
    problems: list[str] = []
    typeset_pages = 0
    for rel in pages:
        op = OfflinePage(browser)
        try:
            op.open(f"{base}/{rel}")
            images = op.page.evaluate("""() => [...document.images].map(i => [i.currentSrc || i.src, i.complete,
                                                                               i.naturalWidth])""")
            bad = [src for src, complete, width in images if not complete or width == 0]
            math = op.page.evaluate("""() => ({spans: document.querySelectorAll('span.math, div.math').length,
                                              typeset: document.querySelectorAll('mjx-container').length,
                                              raw: [...document.querySelectorAll('span.math, div.math')]
                                                   .filter(e => !e.querySelector('mjx-container')).length})""")
            charts = op.page.evaluate("""() => [...document.querySelectorAll('.plotly-graph-div')]
                                               .map(d => d.querySelectorAll('svg.main-svg').length)""")
            if bad:
                problems.append(f"{rel}: images not loaded: {bad[:3]}")
            if math["spans"] and (math["raw"] or not math["typeset"]):
                problems.append(f"{rel}: {math['raw']} of {math['spans']} equations not typeset")
            typeset_pages += bool(math["typeset"])
            if any(n == 0 for n in charts):
                problems.append(f"{rel}: a plotly chart was not drawn")
            problems += [f"{rel}: {e}" for e in op.errors]
            problems += [f"{rel}: blocked request outside 127.0.0.1: {u}" for u in op.blocked]
            problems += [f"{rel}: failed request {u}" for u in op.failed]
            if rel.startswith("lectures/"):
                images_committed = _count_png(ROOT / "lectures" / Path(rel).with_suffix(".ipynb").name)
                if len(images) < images_committed:
                    problems.append(f"{rel}: {len(images)} images shown, {images_committed} figures committed")
        finally:
            op.close()
    assert not problems, "\n".join(problems)
    assert typeset_pages >= len(lectures) // 2      # most lectures have equations: MathJax ran on them
    plotly_pages = [p for p in lectures if "plotly" in (ROOT / "lectures" / Path(p).with_suffix(".ipynb").name).read_text()]
    assert plotly_pages, "no lecture has a plotly chart any more: update this test"


def _count_png(nb_path: Path) -> int:
    import nbformat
    nb = nbformat.read(nb_path, as_version=4)
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def test_navigation_between_units(site, browser):
    base, html = site
    op = OfflinePage(browser)
    try:
        op.open(f"{base}/index.html")
        op.page.click("article table a[href*='lectures/03_rnn_basics']")
        op.page.wait_for_url("**/lectures/03_rnn_basics.html")
        assert "RNN" in op.page.title()
        # the lecture ends with its lab; "next" leads to the lab page, then to unit 4
        assert op.page.locator("a[href*='labs/03_rnn_basics_lab']").count() >= 1
        op.page.click("a.right-next")
        op.page.wait_for_url("**/labs/03_rnn_basics_lab.html")
        op.page.click("a.right-next")
        op.page.wait_for_url("**/lectures/04_min_char_rnn.html")
        op.page.click("a.left-prev")
        op.page.wait_for_url("**/labs/03_rnn_basics_lab.html")
        # the sidebar lists every unit's lecture
        links = op.page.evaluate("() => [...document.querySelectorAll('nav.bd-docs-nav a')].map(a => a.href)")
        for nb in (ROOT / "lectures").glob("[0-9][0-9]*.ipynb"):
            assert any(f"lectures/{nb.stem}.html" in h for h in links), nb.stem
        # the launch buttons point at Binder and the configured hub
        launch = op.page.evaluate("() => [...document.querySelectorAll('a')].map(a => a.href)"
                                  ".filter(h => h.includes('mybinder.org') || h.includes('hub.example.edu'))")
        assert any("git-pull" in h and "hub.example.edu" in h for h in launch), launch
        assert any("mybinder.org/v2/" in h for h in launch), launch
        assert not op.errors and not op.blocked and not op.failed, (op.errors, op.blocked, op.failed)
    finally:
        op.close()
