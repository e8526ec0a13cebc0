"""Every example runs, against the generated videos, with no AI key (AI stages skipped)."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.docs.snippets import read_page
from tests.integration.postgres import pg_template, pg_url  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
QUICKSTART = ROOT / "docs" / "quickstart.md"

# What differs from run to run (and machine to machine) in the quickstart's output.
_VARYING = [
    (re.compile(r"\bv[0-9a-f]{20}\b"), "<video-id>"),
    (re.compile(r"ready in \d+\.\d+s"), "ready in <t>s"),
    (re.compile(r"\b(done|skipped|failed) +\d+\.\d+s"), r"\1 <t>s"),
    (re.compile(r"(?m)^  \d+\.\d{3}  "), "  <score>  "),  # float rounding of the local models
    # Where speech starts comes from the speech model's word times, which move by a few
    # hundredths between its versions (the matrix runs the newest and the lowest).
    (re.compile(r"(?m)^(  said +)\d+\.\ds"), r"\1<t>s"),
    (re.compile(r"\d\d:\d\d\.\d\d-\d\d:\d\d\.\d\d(  \[segment\])"), r"<span>\1"),
]


def normalised(text: str, *, data_dir: Path | None = None) -> list[str]:
    """`text`'s lines with what varies between runs replaced by placeholders."""
    if data_dir is not None:
        text = text.replace(f"{data_dir.parent}{os.sep}", "")
    for pattern, placeholder in _VARYING:
        text = pattern.sub(placeholder, text)
    return [line.rstrip() for line in text.splitlines()]


def documented_quickstart_output() -> str:
    """The `text` block that follows `python examples/quickstart.py` in docs/quickstart.md."""
    blocks = read_page(QUICKSTART).blocks
    for command, output in itertools.pairwise(blocks):
        if "examples/quickstart.py" in command.code and output.lang == "text":
            return output.code
    raise AssertionError(f"{QUICKSTART} shows no output of examples/quickstart.py")


def run_example(name: str, media: dict[str, Path], tmp_path: Path, **env: str) -> str:
    environment = {
        **os.environ,
        "VIDEOPIPE_SAMPLES": str(media["cuts.mp4"].parent),
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        **env,
    }
    environment.pop("OPENAI_API_KEY", None)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.timeout(120)
def test_quickstart(media, tmp_path: Path) -> None:
    out = run_example("quickstart.py", media, tmp_path)  # VIDEOPIPE_PROVIDER=none
    assert out.startswith("provider: none")
    assert "3 scenes, 3 frames, 0 transcript segments" in out
    assert "note: transcribe, vision, embeddings skipped: no AI provider is configured" in out
    assert "OPENAI_BASE_URL" in out
    assert "search" not in out
    assert (tmp_path / "demo.db").is_file()
    assert f"report: {tmp_path / 'data' / 'reports'}" in out


@pytest.mark.timeout(300)
def test_quickstart_prints_what_the_docs_show(media, tmp_path: Path) -> None:
    """A newcomer with no key sees, line for line, what docs/quickstart.md says they will.

    What `make demo` does on a machine with no key: all six stages with the local
    models, the frames' on-screen text, then two searches.
    """
    out = run_example("quickstart.py", media, tmp_path, VIDEOPIPE_PROVIDER="auto")
    assert "provider: local (" in out
    assert "  text    1.5s  ORDER CODE ZX-4471" in out  # OCR only: the caption is empty
    assert "skipped" not in out
    assert normalised(out, data_dir=tmp_path / "data") == normalised(documented_quickstart_output())


def test_the_output_comparison_notices_a_drift() -> None:
    """The comparison above fails when the docs and the output differ in more than IDs and times."""
    documented = documented_quickstart_output()
    assert normalised(documented.replace("13.1s", "2.0s")) == normalised(documented)
    assert normalised(documented.replace("v7c08a3f99b315e908594", "v0123456789abcdef0123")) == (
        normalised(documented)
    )
    drifted = documented.replace("  text    1.5s  ORDER", "          1.5s  ORDER")
    assert normalised(drifted) != normalised(documented)
    assert normalised(documented.replace("3 scenes", "4 scenes")) != normalised(documented)


@pytest.mark.timeout(120)
def test_batch_reports_each_bad_file_alone(media, tmp_path: Path) -> None:
    out = run_example("batch.py", media, tmp_path)
    assert "Done: 3 succeeded, 3 failed" in out
    assert "empty.mp4: EmptyInput" in out
    assert "text.mp4: StageError" in out
    assert "truncated.mp4: StageError" in out


@pytest.mark.timeout(120)
def test_custom_stage(media, tmp_path: Path) -> None:
    out = run_example("custom_stage.py", media, tmp_path)
    assert "scene_stats: {'scenes': 4, 'mean_scene_sec': 2.0, 'words': 0}" in out
    assert "re-run resumed every stage: True" in out


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_worker_postgres(media, tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    out = run_example("worker_postgres.py", media, tmp_path, DATABASE_URL=pg_url)
    assert "Total: 4, successful: 3, failed: 1" in out
    assert "FAILED " in out
    assert "text.mp4" in out


def run_notebook(folder: Path, monkeypatch: pytest.MonkeyPatch, **env: str):
    """Copy the notebook alone into `folder` and run it there in a real Jupyter kernel."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), (
        "commit it without outputs"
    )
    folder.mkdir()
    nbformat.write(notebook, folder / "notebook.ipynb")  # nothing else from the checkout
    # The kernel is a subprocess: it inherits the environment.
    for name in ("DATA_DIR", "DATABASE_URL", "VIDEOPIPE_SAMPLES", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": folder}}
    )
    client.execute()
    return code


def outputs(cells, kind: str) -> str:
    """The text of the cells' outputs of `kind`: "text/plain", "text/html" or "stderr"."""
    found = []
    for cell in cells:
        for out in cell.outputs:
            if kind == "stderr":
                found.append(out.get("text", "") if out.get("name") == "stderr" else "")
            elif kind == "text/plain" and out.get("name") == "stdout":
                found.append(out.get("text", ""))
            else:
                found.append(out.get("data", {}).get(kind, ""))
    return "\n".join(found)


@pytest.mark.timeout(180)
def test_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The notebook runs alone, from a folder outside the checkout, top to bottom, with `await`.

    It makes its own sample clip with FFmpeg, shows the report and the search
    hits as HTML, and prints no warning (no `TqdmWarning: IProgress not found`).
    """
    folder = tmp_path / "somewhere"
    code = run_notebook(folder, monkeypatch, VIDEOPIPE_FAKE_PROVIDER="1")
    out = outputs(code, "text/plain")
    assert "scene 3:  6.00s -  8.00s" in out
    assert "Sales grew by twelve percent." in out
    assert "resumed: True" in out
    assert "requests: 6 before: 6" in out  # the re-run made no provider call
    html = outputs(code, "text/html")
    # The search hits, each with its frame: the fake transcript says it twice, in segments
    # that are not adjacent (so not merged); hits under `min_score` are not shown.
    assert html.count('class="vp-hit"') >= 2
    assert "vp-report" in html
    assert "Storyboard" in html or "storyboard" in html
    assert outputs(code, "stderr").strip() == ""
    assert (folder / "sample.mp4").is_file()
    assert (folder / "notebook.db").is_file()
    assert (folder / "data").is_dir()
    assert not list(EXAMPLES.glob("*.db")), "the notebook wrote into the checkout"


@pytest.mark.timeout(180)
def test_no_tqdm_warning_in_a_kernel_without_ipywidgets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the local Whisper model and a batch's progress bar print no `IProgress` warning.

    faster-whisper imports `tqdm.auto` at import time; in a Jupyter kernel without
    ipywidgets that warns "IProgress not found. Please update jupyter and ipywidgets".
    """
    import nbformat
    from nbclient import NotebookClient

    pytest.importorskip("ipykernel")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import importlib.util\n"
            "assert importlib.util.find_spec('ipywidgets') is None, 'needs no ipywidgets'\n"
            "from videopipe.providers._local import _Transcriber\n"
            "_Transcriber(None, 'int8', 1)"
        ),
        nbformat.v4.new_code_cell(
            "import videopipe as vp\n\n"
            "async def double(x):\n    return 2 * x\n\n"
            "print([r.value for r in await vp.process_batch([1, 2], double, progress=True)])"
        ),
    ]
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    assert "[2, 4]" in outputs(notebook.cells, "text/plain")
    assert "Warning" not in outputs(notebook.cells, "stderr")
