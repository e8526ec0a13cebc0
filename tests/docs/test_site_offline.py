"""The docs site renders fully without network: no script, style or font from another host.

Material for MkDocs loads Google Fonts unless `theme.font` is false, and loads
Mermaid from a CDN for any `mermaid` block; a reader offline (or behind a strict
proxy) then gets raw diagram text and fallback fonts. This builds the site as
`make docs` does and reads every page.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What a browser fetches by itself when it renders a page (links a reader clicks are fine).
_FETCHED = {
    "script": ("src",),
    "link": ("href",),  # stylesheets, fonts, preconnects, icons
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "object": ("data",),
    "embed": ("src",),
}
_EXTERNAL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
_CSS_URL = re.compile(r"""(?:url\(|@import\s+)\s*['"]?\s*((?:https?:)?//[^'")\s]+)""", re.I)


class _Fetches(HTMLParser):
    """Collects the external URLs a page makes the browser fetch, and its Mermaid blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.mermaid = 0
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if "mermaid" in (values.get("class") or "").split():
            self.mermaid += 1  # Material then loads mermaid.min.js from a CDN
        for name in _FETCHED.get(tag, ()):
            value = values.get(name) or ""
            if tag == "link" and values.get("rel") in {"canonical", "alternate"}:
                continue  # metadata for crawlers, never fetched by a browser
            if _EXTERNAL.match(value):
                self.external.append(f"<{tag} {name}={value!r}>")
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.external.extend(f"<style> {url}" for url in _CSS_URL.findall(data))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False


def external_fetches(html: str) -> tuple[list[str], int]:
    """The external URLs `html` makes a browser fetch, and how many Mermaid blocks it has."""
    parser = _Fetches()
    parser.feed(html)
    return parser.external, parser.mermaid


def test_the_scanner_finds_what_a_browser_would_fetch() -> None:
    """The check below can fail: a CDN script, a Google Fonts link and a Mermaid block are seen."""
    html = (
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
        '<script src="//cdn.jsdelivr.net/npm/mermaid.min.js"></script>'
        '<link rel="canonical" href="https://videopipe.readthedocs.io/">'
        '<a href="https://github.com/videopipe/videopipe">source</a>'
        "<style>@import 'https://fonts.example/x.css';</style>"
        '<pre class="mermaid"><code>flowchart LR</code></pre>'
        '<img src="images/pipeline.svg"><script src="assets/javascripts/bundle.js"></script>'
    )
    external, mermaid = external_fetches(html)
    assert external == [
        "<link href='https://fonts.googleapis.com/css?family=Roboto'>",
        "<script src='//cdn.jsdelivr.net/npm/mermaid.min.js'>",
        "<style> https://fonts.example/x.css",
    ]
    assert mermaid == 1


@pytest.mark.timeout(300)
def test_the_built_site_fetches_nothing_from_the_network(tmp_path: Path) -> None:
    """Every page of the strict build uses only files of the site itself."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or "mkdocs"
    site = tmp_path / "site"
    subprocess.run(
        [mkdocs, "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=280,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 10
    problems = []
    for page in pages:
        external, mermaid = external_fetches(page.read_text(encoding="utf-8"))
        problems += [f"{page.relative_to(site)}: {what}" for what in external]
        if mermaid:
            problems.append(f"{page.relative_to(site)}: {mermaid} Mermaid block(s) (CDN script)")
    assert not problems, "\n".join(problems)
    assert (site / "images" / "pipeline.svg").is_file()
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'src="images/pipeline.svg"' in index
