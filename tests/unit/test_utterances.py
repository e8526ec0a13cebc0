"""Utterances cut from timed words: the invariants that make a segment's times the speech's."""

from __future__ import annotations

import doctest
import itertools
import wave

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from videopipe._media import _utterances
from videopipe._media._utterances import (
    PAUSE,
    Word,
    attach_text,
    pcm_wav,
    speech_span,
    trim_to_sound,
    utterances,
)


def test_the_examples_in_the_docstrings_hold() -> None:
    """The docstrings show real output."""
    result = doctest.testmod(_utterances)
    assert result.attempted >= 2
    assert result.failed == 0


def test_a_sentence_said_after_a_silence_starts_when_it_is_said() -> None:
    """The issue's failure: a segment began where the previous one ended, silence included."""
    words = [
        Word(0.5, 0.9, " Room"),
        Word(0.9, 1.4, " twelve"),
        Word(1.4, 1.6, " is"),
        Word(1.6, 2.0, " booked"),
        Word(2.0, 2.5, " for Peter."),
        Word(9.0, 9.4, " Room"),
        Word(9.4, 9.9, " fifteen"),
        Word(9.9, 10.1, " is"),
        Word(10.1, 10.5, " booked"),
        Word(10.5, 11.0, " for Sarah."),
    ]
    assert [(u.start, u.end, u.text) for u in utterances(words)] == [
        (0.5, 2.5, "Room twelve is booked for Peter."),
        (9.0, 11.0, "Room fifteen is booked for Sarah."),
    ]


def test_a_pause_ends_an_utterance_even_without_punctuation() -> None:
    words = [Word(0.0, 0.4, " so"), Word(0.4, 0.8, " then"), Word(3.0, 3.4, " later")]
    assert [u.text for u in utterances(words)] == ["so then", "later"]
    assert [u.text for u in utterances(words, pause=5.0)] == ["so then later"]


def test_sentence_ends_split_but_abbreviations_and_decimals_do_not() -> None:
    text = [" Dr.", " Smith", " paid", " 3.5", " dollars!", " Really?", " Yes", " (it's"]
    text.append(' "true.")')
    words = [Word(i * 0.3, i * 0.3 + 0.3, t) for i, t in enumerate(text)]
    assert [u.text for u in utterances(words)] == [
        "Dr. Smith paid 3.5 dollars!",
        "Really?",
        'Yes (it\'s "true.")',
    ]


def test_run_on_speech_is_cut_at_max_seconds() -> None:
    words = [Word(i * 0.5, i * 0.5 + 0.5, " la") for i in range(100)]
    cut = utterances(words, max_seconds=10.0)
    assert all(u.end - u.start <= 10.0 for u in cut)
    assert sum(len(u.words) for u in cut) == 100


def test_the_api_s_bare_words_take_the_text_s_punctuation() -> None:
    text = " Room 12 is booked for Peter. Room 15 is booked for Sarah."
    bare = ["Room", "12", "is", "booked", "for", "Peter", "Room", "15", "is", "booked", "for"]
    times = [0.5, 0.9, 1.4, 1.6, 2.0, 2.2, 9.0, 9.4, 9.9, 10.1, 10.5, 10.7]
    words = [Word(times[i], times[i] + 0.2, w) for i, w in enumerate([*bare, "Sarah"])]
    spelled = attach_text(text, words)
    assert "".join(w.text for w in spelled) == text
    assert [(u.start, u.text) for u in utterances(spelled)] == [
        (0.5, "Room 12 is booked for Peter."),
        (9.0, "Room 15 is booked for Sarah."),
    ]


def test_text_and_words_that_differ_still_align() -> None:
    """A code said as two words, a word the text lacks, text before the first word."""
    text = "- The code is ZX-4471, thanks."
    words = [
        Word(1.0, 1.2, "the"),
        Word(1.2, 1.5, "code"),
        Word(1.5, 1.7, "is"),
        Word(1.7, 2.0, "ZX"),
        Word(2.0, 2.6, "4471"),
        Word(2.6, 2.7, "um"),
        Word(2.7, 3.0, "thanks"),
    ]
    spelled = attach_text(text, words)
    assert [(w.start, w.end, w.text) for w in spelled] == [
        (1.0, 1.2, "- The"),
        (1.2, 1.5, " code"),
        (1.5, 1.7, " is"),
        (1.7, 2.7, " ZX-4471,"),
        (2.7, 3.0, " thanks."),
    ]
    assert attach_text("", words[:2]) == [Word(1.0, 1.2, " the"), Word(1.2, 1.5, " code")]


# --- invariants -----------------------------------------------------------------------------

TOKENS = st.sampled_from([" a", " b.", " c?", " d", " e!", " f,", " Mr.", " g", " ", ""])


@st.composite
def timed_words(draw: st.DrawFn) -> list[Word]:
    """Words in a plausible order with gaps, overlaps and zero lengths now and then."""
    words = []
    t = draw(st.floats(0, 5))
    for text in draw(st.lists(TOKENS, max_size=40)):
        t += draw(st.sampled_from([0.0, 0.05, 0.3, PAUSE, 2.0, -0.1]))
        length = draw(st.sampled_from([0.0, 0.2, 0.5, 1.5]))
        words.append(Word(max(0.0, t), max(0.0, t) + length, text))
        t += length
    return words


# Timed by nothing: a busy machine must not fail them.
UNTIMED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@UNTIMED
@given(timed_words(), st.sampled_from([0.3, PAUSE, 2.0]), st.sampled_from([1.0, 4.0, 30.0]))
def test_utterance_invariants(words: list[Word], pause: float, max_seconds: float) -> None:
    """Every word once, in order, timed by its words; no overlap, pause or sentence end inside."""
    found = utterances(words, pause=pause, max_seconds=max_seconds)
    kept = sorted((w for w in words if w.text.strip()), key=lambda w: w.start)
    assert [w.text for u in found for w in u.words] == [w.text for w in kept]
    for u in found:
        assert u.words
        assert u.start == u.words[0].start == min(w.start for w in u.words)
        assert u.end == u.words[-1].end >= u.start
        assert u.text == "".join(w.text for w in u.words).strip()
        for before, after in itertools.pairwise(u.words):
            assert after.start - before.end < pause  # no long silence inside
            assert not _utterances._ends_sentence(before.text)
        if len(u.words) > 1:
            assert u.end - u.start <= max_seconds
    for before, after in itertools.pairwise(found):
        assert before.end <= after.start  # in order, never overlapping


@UNTIMED
@given(st.lists(st.sampled_from(["a", "b", "c.", "D", "e-f", "12", ","]), max_size=20), st.data())
def test_attach_text_keeps_the_whole_text_and_the_times_in_order(
    tokens: list[str], data: st.DataObject
) -> None:
    text = " ".join(tokens)
    said = data.draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "12"]), max_size=20))
    words = [Word(float(i), i + 0.5, w) for i, w in enumerate(said)]
    spelled = attach_text(text, words)
    if text.strip() and said:
        assert "".join(w.text for w in spelled) == text
    starts = [w.start for w in spelled]
    assert starts == sorted(starts)
    assert all(w.end >= w.start for w in spelled)


# --- trimming to the sound -------------------------------------------------------------------

RATE = 16000


def _audio(seconds: float, voice: list[tuple[float, float]], floor: float = 0.0) -> np.ndarray:
    """A tone where `voice` says someone speaks, over noise of amplitude `floor`."""
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(1)
    out = floor * rng.standard_normal(len(t))
    for a, b in voice:
        inside = (t >= a) & (t < b)
        out[inside] += 0.3 * np.sin(2 * np.pi * 220 * t[inside])
    return out.astype(np.float32)


def test_silence_around_the_voice_is_trimmed_with_a_margin() -> None:
    samples = _audio(5.0, [(1.0, 2.5)])
    assert speech_span(samples, RATE) == (0.9, 2.6)
    assert trim_to_sound(0.2, 4.8, samples, RATE) == (0.9, 2.6)
    # Times within the samples, which may start later than 0 s (a chunk, a window).
    assert trim_to_sound(10.2, 14.8, samples, RATE, offset=10.0) == (10.9, 12.6)
    # Never wider than given, even when the voice goes on past it.
    assert trim_to_sound(1.5, 2.0, samples, RATE) == (1.5, 2.0)


def test_nothing_is_trimmed_from_noisy_audio_or_found_in_digital_silence() -> None:
    """Room noise or music within 35 dB of the voice: no quiet part to trust."""
    noisy = _audio(5.0, [(1.0, 2.5)], floor=0.01)
    assert speech_span(noisy, RATE) == (0.0, 5.0)
    assert trim_to_sound(0.2, 4.8, noisy, RATE) == (0.2, 4.8)
    assert speech_span(np.zeros(RATE, dtype=np.float32), RATE) is None
    assert speech_span(np.zeros(5, dtype=np.float32), RATE) is None
    assert trim_to_sound(3.0, 4.0, np.zeros(RATE, dtype=np.float32), RATE) == (3.0, 4.0)
    # 16-bit samples as they are in a WAV file.
    pcm = (_audio(5.0, [(1.0, 2.5)]) * 32767).astype(np.int16)
    assert speech_span(pcm, RATE) == (0.9, 2.6)


TWO_VOICES = _audio(5.0, [(1.0, 2.5), (3.0, 3.2)])


@UNTIMED
@given(st.floats(0, 4.9), st.floats(0, 5), st.floats(0, 3))
def test_trimming_stays_within_the_given_times(start: float, length: float, offset: float) -> None:
    samples = TWO_VOICES
    end = start + length
    a, b = trim_to_sound(start + offset, end + offset, samples, RATE, offset=offset)
    assert start + offset - 1e-3 <= a <= b <= end + offset + 1e-3


def test_a_wav_file_s_bytes_are_read_and_anything_else_is_not(tmp_path) -> None:
    stereo = np.stack([_audio(1.0, [(0.2, 0.4)]), np.zeros(RATE, dtype=np.float32)], axis=1)
    path = tmp_path / "s.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((stereo * 32767).astype("<i2").tobytes())
    read = pcm_wav(path.read_bytes())
    assert read is not None
    samples, rate = read
    assert rate == RATE
    assert len(samples) == RATE
    assert speech_span(samples, rate) == (0.1, 0.5)
    assert pcm_wav(b"ID3\x03 an mp3") is None
    assert pcm_wav(b"") is None
