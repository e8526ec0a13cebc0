"""The relevance set of `bench_search.py`, made from media it generates.

Eight talks, each a run of slides: a coloured slide per spoken sentence
(espeak-ng), some with burnt-in text (codes, slide numbers, names) drawn with
Pillow's bundled font, as `scripts/make_media.py` draws its slides
(imageio-ffmpeg's FFmpeg has `drawtext`, but it needs a font file, and no system
font is assumed). 66 distinct sentences, with groups that share most words and
differ only by a number or a name, spread over the talks, and 16 on-screen
texts. The talks are processed by the real default pipeline with
`LocalProvider` into SQLite under the work directory; media, database and
processed files stay there, so a rerun only searches (a completed video costs
the pipeline no work).

An answer is a moment, not an ID: the video, the kind (`segment` for what is
said, `caption` for what is shown) and the middle of the sentence or slide. A hit
is right when it is of that video and kind and its span holds that moment.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_media import load_make_media  # benchmarks/ is on sys.path when run as a script

NAMES = ["Maria", "David", "Aisha", "Kenji", "Lucas"]
DISTINCT = [
    "The new coffee machine in the kitchen has been broken since Tuesday",
    "We hired three engineers for the mobile application team",
    "The warehouse in Rotterdam will close for renovation in August",
    "Customer complaints about late deliveries dropped by half",
    "Our website was down for two hours after the database upgrade",
    "The marketing team wants a bigger booth at the trade fair",
    "Please submit your travel expenses before the end of the month",
    "The solar panels on the roof now cover most of our electricity",
    "Security training is mandatory for every new employee",
    "The printer on the second floor keeps jamming with thick paper",
    "Our biggest client asked for a discount on the annual contract",
    "The board approved the merger with the Swedish supplier",
    "Employees can now work from home two days a week",
    "The parking garage will charge visitors from next Monday",
    "The recycling bins are emptied every Thursday morning",
    "Our support hotline now answers in Spanish and Portuguese",
    "The laboratory found traces of lead in the old water pipes",
    "The football team of the company won the city tournament",
    "The cafeteria will serve vegetarian meals every Friday",
    "A fire drill is planned for Wednesday afternoon",
    "The new logo was designed by an agency in Lisbon",
    "Battery life of the new headset is twelve hours",
    "The training budget was cut by ten percent",
    "Shipping costs to Australia doubled this year",
    "The legal department reviewed the privacy policy",
    "Interns will present their projects in the main hall",
    "The server room temperature alarm went off at night",
    "Our app reached one million downloads in Brazil",
    "The elevator in building B is out of service",
    "Quarterly taxes must be filed by the accountant",
    "The design team moved to the open office on floor five",
    "A customer in Japan reported a bug in the checkout page",
    "The cleaning company changed its schedule to evenings",
    "The annual picnic is cancelled because of the storm",
    "Our carbon emissions fell for the third year in a row",
    "The new CEO starts her job in January",
]
PARAPHRASES = {  # query -> index into DISTINCT
    "the espresso maker is not working": 0,
    "new developers joined the app team": 1,
    "fewer people complain that parcels arrive late": 3,
    "the site had an outage after upgrading the database": 4,
    "hand in receipts for business trips": 6,
    "we get most of our power from the sun": 7,
    "paper gets stuck in the printer upstairs": 9,
    "staff may work remotely part of the week": 12,
    "when is the trash collected": 14,
    "the company soccer squad won a trophy": 17,
    "how long does the headset battery last": 21,
    "the lift is broken": 28,
}
EXACT = [2, 5, 8, 10, 11, 15, 16, 19, 24, 33]  # queries: DISTINCT[i] verbatim
NO_ANSWER = [
    "how do penguins survive the antarctic winter",
    "recipe for a chocolate cake with strawberries",
    "who won the chess world championship",
    "the volcano erupted and covered the village in ash",
    "best hiking trails in the Swiss alps",
    "how to tune a violin string",
    "the rocket launched a satellite into orbit",
    "symptoms of the common cold in children",
    "a poem about the ocean at sunset",
    "the history of the Roman empire",
]
#: espeak-ng's voice: a little slower than its default and with a gap between words,
#: which Whisper `tiny.en` hears far better (at the default 175 words a minute it
#: wrote "The quarterly budget for region 4" as "The quarter-limurgent 4-ejan").
VOICE = ["-v", "en", "-s", "140", "-g", "8"]
#: Bump when `make_talk` draws or mixes differently: the cached talks are made anew.
RECIPE_VERSION = 2
COLOURS = ["#1d3557", "#2a6f4e", "#7b2d26", "#4a4e69", "#005f73", "#6a4c93", "#3d405b"]
VIDEOS = 8


@dataclass(frozen=True)
class Target:
    """Where an answer is: a video, the kind of hit, and a moment (seconds) its span holds."""

    video: str
    kind: str
    t: float


def talks() -> tuple[list[list[tuple[str, str]]], dict[str, tuple[int, str, int]]]:
    """Per talk its slides (text shown, sentence said), and where each keyed item is.

    The key table maps a key to (talk, "said" or "shown", slide index).
    """
    said: list[list[str]] = [[] for _ in range(VIDEOS)]
    shown: list[list[str]] = [[] for _ in range(VIDEOS)]
    keys: dict[str, tuple[int, str, int]] = {}

    def show(talk: int, text: str, key: str) -> None:
        keys[key] = (talk, "shown", len(shown[talk]))
        shown[talk].append(text)

    groups: list[list[tuple[str, str]]] = [
        [(f"Sentence number {n} is about the quarterly budget.", f"sentence{n}") for n in range(5)],
        [(f"The quarterly budget for region {n} was approved.", f"region{n}") for n in range(1, 6)],
        [(f"Episode {n} covers the product launch in Berlin.", f"episode{n}") for n in range(1, 5)],
        [(f"{name} presented the sales forecast for next year.", name) for name in NAMES],
        [
            (
                f"During the long Tuesday meeting the team went through agenda item {n} "
                "about the new office lease.",
                f"item{n}",
            )
            for n in range(3, 9)
        ],
        [
            (
                f"After a long discussion the supplier contract was finally signed by {name}.",
                f"signed{name}",
            )
            for name in NAMES
        ],
    ]
    # A group's sentences go to different talks, each between two unrelated ones:
    # Whisper, conditioned on what it just heard, drops or garbles a run of
    # near-identical sentences said one after the other.
    similar: list[list[tuple[str, str]]] = [[] for _ in range(VIDEOS)]
    for n, item in enumerate(item for group in groups for item in group):
        similar[n % VIDEOS].append(item)
    distinct: list[list[tuple[str, str]]] = [[] for _ in range(VIDEOS)]
    for i, text in enumerate(DISTINCT):
        distinct[i % VIDEOS].append((text + ".", f"distinct{i}"))
    for talk in range(VIDEOS):
        a, b = distinct[talk], similar[talk]
        order = [x for pair in zip(a, b, strict=False) for x in pair]
        order += a[len(b) :] + b[len(a) :]
        for text, key in order:
            keys[key] = (talk, "said", len(said[talk]))
            said[talk].append(text)
    for n in range(1, 7):
        show(5 + n % 2, f"SLIDE {n} REVENUE BY QUARTER", f"slide{n}")
    for n in range(4471, 4476):
        show(4 + n % 2 * 3, f"ORDER ZX-{n} SHIPPED", f"zx{n}")
    for name in NAMES:
        show(NAMES.index(name) % 4, f"Speaker: {name} Okafor, Head of Sales", f"speaker{name}")
    slides = [
        [(shown[t][i] if i < len(shown[t]) else "", text) for i, text in enumerate(said[t])]
        for t in range(VIDEOS)
    ]
    for t in range(VIDEOS):
        assert len(shown[t]) <= len(said[t]), f"talk {t} shows more texts than it has slides"
    return slides, keys


def queries() -> list[tuple[str, str, list[str]]]:
    """The (group, query, keys of its answers) of the set; no keys for a query with none."""
    out: list[tuple[str, str, list[str]]] = []
    out += [("exact", DISTINCT[i], [f"distinct{i}"]) for i in EXACT]
    out += [("paraphrase", q, [f"distinct{i}"]) for q, i in PARAPHRASES.items()]
    out += [
        ("number", "sentence number 3 about the quarterly budget", ["sentence3"]),
        ("number", "the budget sentence with number 0", ["sentence0"]),
        ("number", "sentence 4 on budgets", ["sentence4"]),
        ("number", "budget approved for region 4", ["region4"]),
        ("number", "was the money for region 2 accepted", ["region2"]),
        ("number", "what does episode 3 cover", ["episode3"]),
        ("number", "the Berlin launch in episode 1", ["episode1"]),
        ("number", "slide 5", ["slide5"]),
        ("number", "agenda item 7", ["item7"]),
        ("number", "what was agenda item 4 about", ["item4"]),
        ("number", "office lease item 6", ["item6"]),
        ("number", "quarterly revenue on slide 2", ["slide2"]),
    ]
    out += [
        ("code", "ZX-4473", ["zx4473"]),
        ("code", "where is order ZX-4471", ["zx4471"]),
        ("code", "was zx-4475 shipped", ["zx4475"]),
        ("code", "order ZX-4472", ["zx4472"]),
        ("code", "the shipment ZX-4474", ["zx4474"]),
    ]
    out += [
        ("name", "what did Kenji present", ["Kenji", "speakerKenji"]),
        ("name", "Aisha sales forecast", ["Aisha", "speakerAisha"]),
        ("name", "forecast presented by Lucas", ["Lucas", "speakerLucas"]),
        ("name", "Maria Okafor head of sales", ["speakerMaria"]),
        ("name", "David", ["David", "speakerDavid", "signedDavid"]),
        ("name", "who is Kenji", ["speakerKenji", "Kenji", "signedKenji"]),
        ("name", "supplier contract signed by Aisha", ["signedAisha"]),
        ("name", "did Lucas sign the contract", ["signedLucas"]),
        ("name", "the contract Maria signed", ["signedMaria"]),
    ]
    out += [("none", q, []) for q in NO_ANSWER]
    return out


def video_id(talk: int) -> str:
    """The store's ID of talk `talk`."""
    return f"talk{talk}"


def make_talk(
    out: Path, tmp: Path, slides: Sequence[tuple[str, str]], colour: int
) -> dict[str, Any]:
    """Write `out`: a slide per (text shown, sentence said), each lasting its sentence plus 1 s.

    Returns each slide's span and its sentence's span (seconds) and texts.
    """
    from PIL import Image, ImageDraw, ImageFont

    make_media = load_make_media()
    w, h, fps = 640, 360, make_media.FPS
    font = ImageFont.load_default(size=34)
    args: list[str] = []
    chains, waves, truth = [], [], []
    t = 0.0
    for i, (text, said) in enumerate(slides):
        wav = tmp / f"{out.stem}_said{i}.wav"
        spoken = speech(said, wav)
        seconds = round(max(3.0, spoken + 1.0) * fps) / fps
        png = tmp / f"{out.stem}_slide{i}.png"
        image = Image.new("RGB", (w, h), COLOURS[(colour + i) % len(COLOURS)])
        draw = ImageDraw.Draw(image)
        if text:
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            draw.text(
                ((w - right + left) // 2, (h - bottom + top) // 2), text, fill="white", font=font
            )
        # A mark placed by talk and slide, so no two slides share a perceptual hash: the
        # vision stage reuses a caption across videos by perceptual hash alone, and
        # would give one name slide the text of another of the same layout.
        x, y = 20 + 55 * ((3 * i + colour) % 11), (15, 300)[(i + colour) % 2]
        draw.rectangle((x, y, x + 40 + 10 * (colour % 4), y + 40), fill="#f1c40f")
        image.save(png)
        args += ["-loop", "1", "-framerate", f"{fps}", "-t", f"{seconds}", "-i", os.fspath(png)]
        chains.append(f"[{i}:v]format=yuv420p,setsar=1,settb=1/{fps},setpts=PTS-STARTPTS[v{i}]")
        start = t + 0.3
        truth.append(
            {
                "slide": [round(t, 3), round(t + seconds, 3)],
                "said": [round(start, 3), round(start + spoken, 3)],
                "shown_text": text,
                "said_text": said,
            }
        )
        waves.append((wav, start))
        t += seconds
    n = len(slides)
    graph = (
        ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
    )
    for i, (wav, start) in enumerate(waves):
        args += ["-i", os.fspath(wav)]
        graph += f";[{n + i}:a]adelay=delays={round(start * 1000)}:all=1[s{i}]"
    mix = "".join(f"[s{i}]" for i in range(n))
    graph += f";{mix}amix=inputs={n}:normalize=0:duration=longest,aresample=48000,apad[a]"
    make_media.ffmpeg(
        *args, "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-t", f"{t}", os.fspath(out),
    )  # fmt: skip
    return {"duration": t, "slides": truth}


def speech(text: str, out: Path) -> float:
    """Say `text` into the WAV file `out` (espeak-ng, `VOICE`); return its duration in seconds."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is missing: run `bash scripts/install-system-deps.sh`")
    subprocess.run([espeak, *VOICE, "-w", os.fspath(out), text], check=True)
    with wave.open(os.fspath(out)) as w:
        return w.getnframes() / w.getframerate()


def recipe_key() -> str:
    """A short digest of what the talks are made of: a new recipe gets a new cache."""
    slides, _ = talks()
    recipe = json.dumps([RECIPE_VERSION, slides, COLOURS, VOICE])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def make_talks(media_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The talks' files and truths, generated once into `media_dir` (while the recipe holds)."""
    slides, _ = talks()
    recipe = recipe_key()
    stamp = media_dir / "talks.recipe"
    media_dir.mkdir(parents=True, exist_ok=True)
    paths = [media_dir / f"talk{t}.mp4" for t in range(VIDEOS)]
    if not (stamp.exists() and stamp.read_text() == recipe and all(p.exists() for p in paths)):
        with tempfile.TemporaryDirectory() as tmp:
            for t, path in enumerate(paths):
                truth = make_talk(path, Path(tmp), slides[t], colour=t)
                path.with_suffix(".json").write_text(json.dumps(truth, indent=1))
        stamp.write_text(recipe)
    return [(p, json.loads(p.with_suffix(".json").read_text())) for p in paths]


def targets(truths: Sequence[dict[str, Any]]) -> dict[str, Target]:
    """Each key's answer moment, from the talks' truths."""
    _, keys = talks()
    out: dict[str, Target] = {}
    for key, (talk, what, index) in keys.items():
        slides = truths[talk]["slides"]
        if what == "said":
            start, end = slides[index]["said"]
            out[key] = Target(video_id(talk), "segment", (start + end) / 2)
        else:
            shown = [s for s in slides if s["shown_text"]]
            start, end = shown[index]["slide"]
            out[key] = Target(video_id(talk), "caption", (start + end) / 2)
    return out


def right(hit: Any, wanted: Sequence[Target]) -> bool:
    """Whether `hit` (video_id, kind, t_start, t_end) is one of the `wanted` moments."""
    return any(
        hit.video_id == w.video and hit.kind == w.kind and hit.t_start <= w.t <= hit.t_end
        for w in wanted
    )
