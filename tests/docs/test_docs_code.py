"""Every Python block of the docs and the README runs, page by page, in order.

See `snippets.py` for the rules: one namespace per page, top-level `await`,
`<!-- not-run: REASON -->` to skip a block. Each page runs in a fresh working
directory holding the sample videos (`conftest.SAMPLES`), with the OpenAI API
faked by respx (any other HTTP request fails) and, for pages that use
`DATABASE_URL`, the test PostgreSQL.
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest
import respx

from ..openai_fakes import FakeOpenAI
from .snippets import Page, defined_tests, read_page, run_blocks

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def needs_postgres(page: Page) -> bool:
    return any("DATABASE_URL" in b.code for b in page.runnable)


def page_params() -> list[object]:
    params = []
    for path in PAGES:
        page = read_page(path)
        marks = [pytest.mark.integration] if needs_postgres(page) else []
        params.append(pytest.param(path, marks=marks, id=str(path.relative_to(ROOT))))
    return params


# A hang detector: the README page runs whole pipelines (10 s idle, 45 s at load 30).
@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", page_params())
def test_page(path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's Python blocks run in order without error, as a reader would run them."""
    page = read_page(path)
    assert not page.problems, "\n".join(page.problems)
    if not page.runnable:
        return
    cwd: Path = request.getfixturevalue("docs_cwd")
    if needs_postgres(page):
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("pg_url"))
    namespace: dict[str, object] = {"__name__": "__docs__"}
    loop = asyncio.new_event_loop()
    try:
        with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
            FakeOpenAI(router)
            # Also what a later block replaced under the same name: left to the garbage
            # collector, a store's SQLite connection warns (ResourceWarning, Python 3.13+).
            opened: dict[int, object] = {}
            for block in page.runnable:
                run_blocks([block], namespace, loop)
                opened.update((id(value), value) for value in namespace.values())
            # A page that shows a test gets it run, as pytest would run it.
            for name, test in defined_tests(namespace):
                kwargs: dict[str, object] = {}
                for param in inspect.signature(test).parameters:
                    if param != "tmp_path":
                        pytest.fail(f"{path}: {name}() asks for {param!r}: only tmp_path is served")
                    kwargs[param] = cwd / name
                    (cwd / name).mkdir()
                outcome = test(**kwargs)
                if inspect.iscoroutine(outcome):
                    loop.run_until_complete(outcome)
            # What a reader leaves open, the end of their script would close.
            opened.update((id(value), value) for value in namespace.values())
            for value in opened.values():
                close = getattr(value, "aclose", None)
                if not inspect.isclass(value) and inspect.iscoroutinefunction(close):
                    loop.run_until_complete(close())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def test_every_page_is_checked() -> None:
    """A page added to the docs is picked up without editing this file."""
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "docs/index.md", "docs/quickstart.md"} <= names
    runnable = sum(len(read_page(p).runnable) for p in PAGES)
    assert runnable >= 20


def write(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text)
    return page


def test_marked_blocks_are_skipped_and_the_others_share_one_namespace(tmp_path: Path) -> None:
    page = read_page(
        write(
            tmp_path,
            "```python\nx = 1\n```\n\n"
            "<!-- not-run: needs a GPU -->\n```python\nraise RuntimeError\n```\n\n"
            "- a list item:\n\n"
            "  ```py\n  import anyio\n\n  await anyio.sleep(0)\n  y = x + 1\n  ```\n"
            "```bash\nexit 1\n```\n",
        )
    )
    assert not page.problems
    assert [(b.lang, b.not_run) for b in page.blocks] == [
        ("python", None),
        ("python", "needs a GPU"),
        ("py", None),
        ("bash", None),
    ]
    namespace: dict[str, object] = {}
    loop = asyncio.new_event_loop()
    try:
        run_blocks(page.runnable, namespace, loop)
    finally:
        loop.close()
    assert namespace["y"] == 2


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<!-- not-run: -->\n```python\npass\n```\n", "without a reason"),
        ("<!-- not-run -->\n```python\npass\n```\n", "without a reason"),
        ("<!-- not-run: slow -->\n\nSome text.\n\n```python\npass\n```\n", "without a block"),
        ("<!-- not-run: a shell -->\n```bash\nls\n```\n", "never run anyway"),
        ("```python\npass\n", "unclosed"),
    ],
)
def test_a_misused_marker_fails_the_page(tmp_path: Path, text: str, problem: str) -> None:
    """A marker needs a reason and must sit right above the Python block it skips."""
    problems = read_page(write(tmp_path, text)).problems
    assert problems
    assert problem in problems[0]


def test_a_failing_block_points_at_its_line_of_the_page(tmp_path: Path) -> None:
    page = read_page(write(tmp_path, "# Title\n\n```python\nx = 1\n1 / 0\n```\n"))
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ZeroDivisionError) as caught:
            run_blocks(page.runnable, {}, loop)
    finally:
        loop.close()
    last = caught.traceback[-1]
    assert (Path(str(last.path)), last.lineno + 1) == (page.path, 5)
