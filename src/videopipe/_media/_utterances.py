"""Utterances: transcript segments cut from timed words, one sentence or phrase each.

A speech model's own segments are windows of its decoding, not of the speech:
one can start seconds before its first word (the silence since the previous
segment ended), or hold two sentences said far apart. A search hit on such a
segment points at the wrong moment. `utterances()` rebuilds the segments from
the words' times instead: a segment starts when its first word starts and ends
when its last word ends, and a new one begins after a sentence ends or after a
pause. `attach_text()` gives timed words the spelling and punctuation of the
transcript's text, for APIs whose words come bare (the Whisper API).
`speech_span()` finds where the sound is in a stretch of audio, to trim the
silence a model's word times often take in at either end.

Plain functions over lists and arrays: both providers and the transcribe stage
call them.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_SECONDS",
    "PAUSE",
    "Utterance",
    "Word",
    "attach_text",
    "pcm_wav",
    "speech_span",
    "trim_to_sound",
    "utterances",
]

PAUSE = 0.8
"""Seconds of silence between two words that end an utterance, even mid-sentence."""

MAX_SECONDS = 30.0
"""The longest utterance, in seconds, when speech runs on with no sentence end or pause."""

# A sentence ends with one of these, maybe followed by closing quotes or brackets.
_SENTENCE_END = re.compile("[.!?\u2026\u3002\uff01\uff1f]['\"\u201d\u2019)\\]]*$")
# Abbreviations whose full stop ends no sentence.
_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "vs.", "e.g.", "i.e."})
_TOKEN = re.compile(r"\s*\S+")
_NOT_A_LETTER = re.compile(r"\W+")


@dataclass(frozen=True, slots=True)
class Word:
    """One spoken word and when it was said.

    Attributes:
        start: When the word starts, in seconds.
        end: When it ends, in seconds.
        text: The word as the transcript writes it, with the space before it
            (if the language puts one) and any punctuation after it.
    """

    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Utterance:
    """A stretch of speech with no sentence end and no long pause inside.

    Attributes:
        start: Its first word's start, in seconds.
        end: Its last word's end, in seconds.
        text: Its words' text, joined, without surrounding space.
        words: Its words, in order.
    """

    start: float
    end: float
    text: str
    words: tuple[Word, ...]


def _ends_sentence(text: str) -> bool:
    word = text.strip()
    return bool(_SENTENCE_END.search(word)) and word.casefold() not in _ABBREVIATIONS


def _clean(words: Iterable[Word]) -> list[Word]:
    """The words with text, in order of start, none ending after the next one starts."""
    ordered = sorted(
        (Word(w.start, max(w.start, w.end), w.text) for w in words if w.text.strip()),
        key=lambda w: w.start,
    )
    # Models give neighbouring words overlapping times now and then; an overlap at a
    # cut would make two utterances overlap, so a word ends no later than the next starts.
    return [
        Word(w.start, min(w.end, nxt.start), w.text) if w.end > nxt.start else w
        for w, nxt in itertools.pairwise(ordered)
    ] + ordered[-1:]


def _utterance(words: list[Word]) -> Utterance:
    text = "".join(w.text for w in words).strip()
    return Utterance(words[0].start, words[-1].end, text, tuple(words))


def utterances(
    words: Iterable[Word], *, pause: float = PAUSE, max_seconds: float = MAX_SECONDS
) -> list[Utterance]:
    """Cut timed words into utterances: at sentence ends, at pauses, and at `max_seconds`.

    Every word with text lands in exactly one utterance, in order. An
    utterance starts at its first word's start and ends at its last word's
    end, so no silence is inside its times; utterances do not overlap. Words
    whose times overlap the next word's are shortened to end where it starts.

    Args:
        words: The words, with their times; blank ones are dropped.
        pause: A silence of at least this many seconds between two words
            starts a new utterance.
        max_seconds: An utterance that would grow longer than this ends before
            the word that would make it so (a single word is never split).

    Returns:
        The utterances, in order of time.

    Examples:
        >>> said = [Word(0.5, 0.9, " Room"), Word(0.9, 1.3, " twelve."), Word(9.0, 9.4, " Room")]
        >>> [(u.start, u.end, u.text) for u in utterances(said)]
        [(0.5, 1.3, 'Room twelve.'), (9.0, 9.4, 'Room')]
    """
    found: list[Utterance] = []
    current: list[Word] = []
    for word in _clean(words):
        if current and (
            word.start - current[-1].end >= pause or word.end - current[0].start > max_seconds
        ):
            found.append(_utterance(current))
            current = []
        current.append(word)
        if _ends_sentence(word.text):
            found.append(_utterance(current))
            current = []
    if current:
        found.append(_utterance(current))
    return found


def attach_text(text: str, words: Sequence[Word]) -> list[Word]:
    """Timed words spelled and punctuated as in the transcript's `text`.

    Some APIs give a transcript's text with punctuation and, apart from it, its
    words with times but bare (`Peter` where the text says `Peter.`). The two
    are aligned on their letters and digits, case ignored; each word takes the
    text's token, with the space before it. Where they differ (`ZX-4471` said
    as the words `ZX` and `4471`), the text's tokens go to one word spanning
    the differing words' times; text with no timed word joins the word before
    it, and a timed word the text lacks is dropped.

    Args:
        text: The transcript's text.
        words: Its words, with times, in order.

    Returns:
        Words whose texts, joined, are `text` (but for leading space), in order.
        With no `text`, `words` with a space before each.

    Examples:
        >>> bare = [Word(0.5, 0.9, "Hello"), Word(1.0, 1.4, "Peter")]
        >>> [w.text for w in attach_text("Hello, Peter.", bare)]
        ['Hello,', ' Peter.']
    """
    if not text.strip():
        return [Word(w.start, w.end, " " + w.text.strip()) for w in words]
    tokens = _TOKEN.findall(text)
    matcher = SequenceMatcher(
        None,
        [_NOT_A_LETTER.sub("", t).casefold() for t in tokens],
        [_NOT_A_LETTER.sub("", w.text).casefold() for w in words],
        autojunk=False,
    )
    spelled: list[Word] = []
    pending = ""  # text before the first timed word
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        said = "".join(tokens[i1:i2])
        if op == "equal":
            spelled.extend(
                Word(w.start, w.end, t) for w, t in zip(words[j1:j2], tokens[i1:i2], strict=True)
            )
        elif op == "replace":
            spelled.append(Word(words[j1].start, words[j2 - 1].end, said))
        elif op == "delete":
            if spelled:
                last = spelled[-1]
                spelled[-1] = Word(last.start, last.end, last.text + said)
            else:
                pending += said
        if pending and spelled:
            first = spelled[0]
            spelled[0] = Word(first.start, first.end, pending + first.text)
            pending = ""
    return spelled


SILENCE_DB = -35.0
"""Sound this far below the loudest 10 ms of a stretch of audio counts as silence."""


def speech_span(
    samples: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    rate: int,
    *,
    silence_db: float = SILENCE_DB,
    pad: float = 0.1,
) -> tuple[float, float] | None:
    """Where the sound is in `samples`: seconds from their start to its start and end.

    Whisper's word times often take in the silence around an utterance (its
    first word starting where voice-activity padding began, its last ending
    long after the voice stopped). Measured in 10 ms frames, the sound is
    what is no more than `-silence_db` decibels below the loudest frame; the
    span is widened by `pad` on each side, within the samples. Audio whose
    quiet parts are not that quiet (music, room noise) gives its whole length
    back, so nothing is trimmed.

    Args:
        samples: Mono audio, floats in [-1, 1] or 16-bit integers.
        rate: Samples per second.
        silence_db: How far below the loudest frame silence is (negative).
        pad: Seconds kept on each side of the sound.

    Returns:
        `(start, end)` in seconds from the first sample, or `None` when there is
        no sound at all (digital silence, or fewer samples than a frame).

    Examples:
        >>> quiet, voice = np.zeros(16000), np.sin(np.arange(8000) / 3)
        >>> speech_span(np.concatenate([quiet, voice, quiet]), 16000)
        (0.9, 1.6)
    """
    frame = max(1, rate // 100)
    count = len(samples) // frame
    if count == 0:
        return None
    audio = np.asarray(samples[: count * frame], dtype=np.float64)
    if np.issubdtype(np.asarray(samples).dtype, np.integer):
        audio /= 32768.0
    rms = np.sqrt(np.mean(audio.reshape(count, frame) ** 2, axis=1))
    loudest = float(rms.max())
    if loudest < 1e-4:  # -80 dBFS: digital silence, nothing to find
        return None
    loud = np.flatnonzero(rms >= loudest * 10 ** (silence_db / 20))
    total = len(samples) / rate
    start = max(0.0, float(loud[0]) * frame / rate - pad)
    end = min(total, float(loud[-1] + 1) * frame / rate + pad)
    return round(start, 3), round(end, 3)


def trim_to_sound(
    start: float,
    end: float,
    samples: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    rate: int,
    *,
    offset: float = 0.0,
) -> tuple[float, float]:
    """`(start, end)`, in seconds, shrunk to the sound inside it (see `speech_span()`).

    Args:
        start: Where the stretch starts, in seconds.
        end: Where it ends.
        samples: Mono audio holding the stretch; its first sample is at `offset` seconds.
        rate: Samples per second.
        offset: The time of the first sample, in seconds.

    Returns:
        The trimmed `(start, end)`, within the given one; the given one when
        the stretch holds no sound at all.
    """
    first = max(0, int((start - offset) * rate))
    last = max(first, math.ceil((end - offset) * rate))
    span = speech_span(samples[first:last], rate)
    if span is None:
        return start, end
    base = offset + first / rate
    return round(max(start, base + span[0]), 3), round(min(end, base + span[1]), 3)


def pcm_wav(data: bytes) -> tuple[npt.NDArray[np.float32], int] | None:
    """The mono samples (floats in [-1, 1]) and rate of a 16-bit PCM WAV file's bytes.

    Returns:
        `(samples, rate)`, or `None` when `data` is not a 16-bit PCM WAV file.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as src:
            if src.getsampwidth() != 2:
                return None
            rate, channels = src.getframerate(), src.getnchannels()
            raw = src.readframes(src.getnframes())
    except (wave.Error, EOFError):
        return None
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    return samples.astype(np.float32), rate
