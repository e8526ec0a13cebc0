"""Benchmark search: relevance on a labeled set, and latency and memory at scale.

Run:  python benchmarks/bench_search.py                       (relevance, about a minute)
      python benchmarks/bench_search.py --scale 100000        (SQLite, and PostgreSQL at --dsn)
      python benchmarks/bench_search.py --scale 100000 --pgvector-dsn postgresql://...

**Relevance.** A labeled set of 8 videos: 66 spoken sentences (transcript
segments) and 16 on-screen texts (frame captions holding codes, slide numbers and
names), with groups that share most words and differ only by a number or a name
(`the quarterly budget for region 3 ...`, `Episode 2 covers ...`, `Kenji presented
...`, `ORDER ZX-4473`). They are stored at the store level with real
`LocalProvider` embeddings: the media pipeline is not run (the transcription and
timing of generated speech are measured by `bench_local.py`), so this measures
the ranking alone. 48 queries with known answers in five groups (exact
sentences, paraphrases, numbers, codes, names) and 10 with no answer. For each
of vector-only search (no keywords), full-text-only (the engine's FTS5 BM25
ranking) and fused search (`vp.search`), and for reciprocal rank fusion (k=60) of
the first two as the baseline the fusion was chosen against, it prints recall@1,
recall@5 and MRR per group, and the share of no-answer queries that return
nothing at the default `min_score` and at a few others.

**Scale** (`--scale N`): N segments with realistic texts and synthetic 384-d
vectors (clustered, unit length) in 1,000-segment videos, stored through the
public API in SQLite, in PostgreSQL without pgvector (`--dsn`) and with it
(`--pgvector-dsn`, a server where `CREATE EXTENSION vector` works). For each:
build time (writes, and the HNSW index), database size, and in a fresh child
process the p50/p99 latency of 40 text queries (fused search, k=10),
unfiltered and filtered to 3 videos, the searching process's CPU time per query
(its own threads; PostgreSQL's server time is not in it), and its peak RSS; the
load average is printed too, since other work on the machine stretches latency. Run it at two
sizes to see memory stay flat in N.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import numpy as np

import videopipe as vp
from videopipe._models import (
    Embedding,
    FrameCaption,
    TranscriptSegment,
    Video,
    caption_id,
    frame_id,
    segment_id,
    text_hash,
)
from videopipe._search import DEFAULT_MIN_SCORE
from videopipe.storage import SQLiteStore, _ranking
from videopipe.storage._fulltext import TextQuery
from videopipe.storage._sqlite._connection import _Q

# --- the labeled set ------------------------------------------------------------------------

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


def labeled_set() -> tuple[dict[str, list[tuple[str, str, str]]], list[tuple[str, str, set[str]]]]:
    """Per video the (kind, owner ID, text) items, and the (group, query, answer IDs)."""
    videos: dict[str, list[tuple[str, str, str]]] = {f"v{i}": [] for i in range(8)}
    answers: dict[str, str] = {}

    def add(video: str, kind: str, text: str, key: str | None = None) -> None:
        items = videos[video]
        i = sum(1 for k, _, _ in items if k == kind)
        owner = segment_id(video, i) if kind == "segment" else caption_id(frame_id(video, i))
        items.append((kind, owner, text))
        if key is not None:
            answers[key] = owner

    for n in range(5):
        add("v0", "segment", f"sentence number {n} about the quarterly budget", f"sentence{n}")
    for n in range(1, 6):
        add("v1", "segment", f"The quarterly budget for region {n} was approved", f"region{n}")
    for n in range(1, 5):
        add("v2", "segment", f"Episode {n} covers the product launch in Berlin", f"episode{n}")
    for name in NAMES:
        add("v3", "segment", f"{name} presented the sales forecast for next year", name)
    for n in range(3, 9):
        add(
            "v2",
            "segment",
            f"During the long Tuesday meeting the team went through agenda item {n} "
            "about the new office lease and the parking spaces",
            f"item{n}",
        )
    for name in NAMES:
        add(
            "v3",
            "segment",
            "After a long discussion about the delayed shipments the supplier contract "
            f"was finally signed by {name} on Friday",
            f"signed{name}",
        )
    for i, text in enumerate(DISTINCT):
        add(f"v{4 + i % 4}", "segment", text, f"distinct{i}")
    for n in range(1, 7):
        add("v5", "caption", f"SLIDE {n} REVENUE BY QUARTER", f"slide{n}")
    for n in range(4471, 4476):
        add("v6", "caption", f"ORDER ZX-{n} SHIPPED", f"zx{n}")
    for name in NAMES:
        add("v7", "caption", f"Speaker: {name} Okafor, Head of Sales", f"speaker{name}")

    queries: list[tuple[str, str, set[str]]] = []
    queries += [("exact", DISTINCT[i], {answers[f"distinct{i}"]}) for i in EXACT]
    queries += [("paraphrase", q, {answers[f"distinct{i}"]}) for q, i in PARAPHRASES.items()]
    queries += [
        ("number", "sentence number 3 about the quarterly budget", {answers["sentence3"]}),
        ("number", "the budget sentence with number 0", {answers["sentence0"]}),
        ("number", "sentence 4 on budgets", {answers["sentence4"]}),
        ("number", "budget approved for region 4", {answers["region4"]}),
        ("number", "was the money for region 2 accepted", {answers["region2"]}),
        ("number", "what does episode 3 cover", {answers["episode3"]}),
        ("number", "the Berlin launch in episode 1", {answers["episode1"]}),
        ("number", "slide 5", {answers["slide5"]}),
        ("number", "agenda item 7", {answers["item7"]}),
        ("number", "what was agenda item 4 about", {answers["item4"]}),
        ("number", "office lease item 6", {answers["item6"]}),
        ("number", "quarterly revenue on slide 2", {answers["slide2"]}),
    ]
    queries += [
        ("code", "ZX-4473", {answers["zx4473"]}),
        ("code", "where is order ZX-4471", {answers["zx4471"]}),
        ("code", "was zx-4475 shipped", {answers["zx4475"]}),
        ("code", "order ZX-4472", {answers["zx4472"]}),
        ("code", "the shipment ZX-4474", {answers["zx4474"]}),
    ]
    queries += [
        ("name", "what did Kenji present", {answers["Kenji"], answers["speakerKenji"]}),
        ("name", "Aisha sales forecast", {answers["Aisha"], answers["speakerAisha"]}),
        ("name", "forecast presented by Lucas", {answers["Lucas"], answers["speakerLucas"]}),
        ("name", "Maria Okafor head of sales", {answers["speakerMaria"]}),
        ("name", "David", {answers["David"], answers["speakerDavid"]}),
        ("name", "who is Kenji", {answers["speakerKenji"], answers["Kenji"]}),
        ("name", "supplier contract signed by Aisha", {answers["signedAisha"]}),
        ("name", "did Lucas sign the contract", {answers["signedLucas"]}),
        ("name", "the contract Maria signed", {answers["signedMaria"]}),
    ]
    queries += [("none", q, set()) for q in NO_ANSWER]
    return videos, queries


async def build_labeled(store: Any, provider: Any) -> None:
    videos, _ = labeled_set()
    for video, items in videos.items():
        await store.upsert_video(Video(id=video, original_path=f"/media/{video}.mp4"))
        segments = [
            TranscriptSegment(
                id=owner, video_id=video, idx=i, t_start=i * 5.0, t_end=i * 5.0 + 4.0, text=text
            )
            for i, (kind, owner, text) in enumerate(x for x in items if x[0] == "segment")
        ]
        captions = [
            FrameCaption(
                id=owner,
                video_id=video,
                frame_id=frame_id(video, i),
                t=i * 10.0 + 5.0,
                caption="",
                ocr_text=text,
            )
            for i, (kind, owner, text) in enumerate(x for x in items if x[0] == "caption")
        ]
        await store.save_segments(video, segments)
        await store.save_captions(video, captions)
        embedded = await provider.embed([text for _, _, text in items])
        await store.save_embeddings(
            [
                Embedding(
                    owner_id=owner,
                    video_id=video,
                    kind=kind,
                    model=provider.embedding_model,
                    vector=vector,
                    text_hash=text_hash(text),
                )
                for (kind, owner, text), vector in zip(items, embedded.vectors, strict=True)
            ]
        )


def full_text_ranking(store: SQLiteStore, query: str, model: str) -> list[str]:
    match = TextQuery.parse(query).fts5()
    if match is None:
        return []
    params = {"match": match, "model": model, "kinds": None, "video_ids": None, "n": 10}
    rows = store._run(lambda conn: conn.execute(_Q["text_candidates"], params).fetchall())
    return rows  # awaited by the caller


def rrf(*rankings: list[str], k: int = 60) -> list[str]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, owner in enumerate(ranking):
            scores[owner] = scores.get(owner, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores, key=lambda o: -scores[o])


def metrics(rankings: list[list[str]], answers: list[set[str]]) -> tuple[float, float, float]:
    r1 = r5 = mrr = 0.0
    for ranking, want in zip(rankings, answers, strict=True):
        ranks = [i for i, owner in enumerate(ranking[:10]) if owner in want]
        r1 += bool(ranks) and ranks[0] == 0
        r5 += bool(ranks) and ranks[0] < 5
        mrr += 1.0 / (ranks[0] + 1) if ranks else 0.0
    n = len(answers) or 1
    return r1 / n, r5 / n, mrr / n


async def relevance(args: argparse.Namespace) -> None:
    from videopipe.providers import LocalProvider

    provider = LocalProvider()
    model = provider.embedding_model
    _, queries = labeled_set()
    with tempfile.TemporaryDirectory() as tmp:
        async with SQLiteStore(Path(tmp) / "labeled.db") as store:
            started = time.perf_counter()
            await build_labeled(store, provider)
            print(f"labeled set stored and embedded in {time.perf_counter() - started:.1f} s")
            embedded = await provider.embed([q for _, q, _ in queries])
            results: dict[str, list[list[str]]] = {
                m: [] for m in ("vector", "text", "rrf", "fused")
            }
            fused_scores: list[list[float]] = []
            for (_, query, _), vector in zip(queries, embedded.vectors, strict=True):
                by_vector = [h.id for h in await store.search(vector, model=model, k=10)]
                rows = await full_text_ranking(store, query, model)
                by_text = [row["owner_id"] for row in rows]
                fused = await store.search(vector, model=model, k=10, keywords=query)
                results["vector"].append(by_vector)
                results["text"].append(by_text)
                results["rrf"].append(rrf(by_vector, by_text))
                results["fused"].append([h.id for h in fused])
                fused_scores.append([h.score for h in fused])
            sweep: dict[float, list[list[str]]] = {}
            for weight in (0.1, 0.2, 0.3, 0.4, 0.5):
                # The fusion's text weight, tried on the same queries (see the Search guide).
                saved = (_ranking.VECTOR_WEIGHT, _ranking.TEXT_WEIGHT)
                _ranking.VECTOR_WEIGHT, _ranking.TEXT_WEIGHT = 1 - weight, weight
                try:
                    sweep[weight] = [
                        [h.id for h in await store.search(v, model=model, k=10, keywords=q)]
                        for (_, q, _), v in zip(queries, embedded.vectors, strict=True)
                    ]
                finally:
                    _ranking.VECTOR_WEIGHT, _ranking.TEXT_WEIGHT = saved
    groups = ["exact", "paraphrase", "number", "code", "name"]
    answerable = [i for i, (g, _, _) in enumerate(queries) if g != "none"]
    print(f"\n{len(answerable)} queries with an answer, {len(queries) - len(answerable)} without")
    print(f"{'method':<8} {'group':<11} {'n':>3} {'recall@1':>9} {'recall@5':>9} {'MRR':>6}")
    for method in ("vector", "text", "rrf", "fused"):
        for group in [*groups, "all"]:
            idx = [i for i in answerable if group in ("all", queries[i][0])]
            r1, r5, mrr = metrics([results[method][i] for i in idx], [queries[i][2] for i in idx])
            print(f"{method:<8} {group:<11} {len(idx):>3} {r1:>9.3f} {r5:>9.3f} {mrr:>6.3f}")
    print("\ntext weight  " + "  ".join(f"{g:>10}" for g in [*groups, "all"]) + "   (recall@1)")
    for weight, rankings in sweep.items():
        cells = []
        for group in [*groups, "all"]:
            idx = [i for i in answerable if group in ("all", queries[i][0])]
            r1, _, _ = metrics([rankings[i] for i in idx], [queries[i][2] for i in idx])
            cells.append(f"{r1:>10.3f}")
        mark = "  (default)" if weight == _ranking.TEXT_WEIGHT else ""
        print(f"{weight:>11.2f}  " + "  ".join(cells) + mark)
    none = [i for i, (g, _, _) in enumerate(queries) if g == "none"]
    print(
        "\nmin_score  no-answer queries returning nothing  answerable queries keeping their top hit"
    )
    for cut in sorted({0.2, 0.25, 0.3, 0.35, 0.4, 0.45, DEFAULT_MIN_SCORE}):
        empty = sum(all(s < cut for s in fused_scores[i]) for i in none) / len(none)
        kept = sum(
            bool(results["fused"][i])
            and results["fused"][i][0] in queries[i][2]
            and fused_scores[i][0] >= cut
            for i in answerable
        ) / len(answerable)
        mark = "  (default)" if cut == DEFAULT_MIN_SCORE else ""
        print(f"{cut:>9.2f}  {empty:>36.0%}  {kept:>40.0%}{mark}")
    if args.verbose:
        for i, (group, query, want) in enumerate(queries):
            top = results["fused"][i][:1]
            ok = "ok " if (top and top[0] in want) or (not want and not top) else "MISS"
            print(f"{ok} {group:<10} {query!r}: fused {top} scores {fused_scores[i][:2]}")


# --- scale ----------------------------------------------------------------------------------

WORDS = [
    "budget",
    "revenue",
    "customer",
    "order",
    "shipping",
    "forecast",
    "quarter",
    "meeting",
    "product",
    "launch",
    "team",
    "design",
    "server",
    "database",
    "release",
    "mobile",
    "contract",
    "invoice",
    "region",
    "slide",
    "episode",
    "report",
    "market",
    "price",
    "growth",
    "sales",
    "support",
    "warehouse",
    "delivery",
    "training",
    "security",
    "office",
]
PER_VIDEO = 1000
DIM = 384


def scale_texts(rng: np.random.Generator, n: int) -> list[str]:
    words = rng.choice(WORDS, size=(n, 8))
    numbers = rng.integers(0, 1000, size=n)
    codes = rng.integers(1000, 9999, size=n)
    return [
        f"{' '.join(w[:4])} number {num} and {' '.join(w[4:])} code ZX-{code}"
        for w, num, code in zip(words, numbers, codes, strict=True)
    ]


def scale_vectors(rng: np.random.Generator, n: int, centers: np.ndarray) -> np.ndarray:
    picks = rng.integers(0, len(centers), size=n)
    vectors = centers[picks] + rng.normal(scale=0.6, size=(n, DIM)).astype(np.float32)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


class IndexTimes(logging.Handler):
    """Sums the seconds the store reports spending on training IVF lists."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds = 0.0
        self.trainings: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("indexed %d vectors"):
            self.seconds += float(record.args[-1])  # type: ignore[index]
            self.trainings.append(record.getMessage())


async def build_scale(url: str, n: int) -> float:
    rng = np.random.default_rng(21)
    centers = rng.normal(size=(64, DIM)).astype(np.float32)
    started = time.perf_counter()
    async with vp.open_store(url) as store:
        for v in range(max(1, n // PER_VIDEO)):
            video = f"s{v:05d}"
            count = min(PER_VIDEO, n - v * PER_VIDEO)
            texts = scale_texts(rng, count)
            vectors = scale_vectors(rng, count, centers)
            await store.upsert_video(Video(id=video, original_path=f"/media/{video}.mp4"))
            await store.save_segments(
                video,
                [
                    TranscriptSegment(
                        id=segment_id(video, i),
                        video_id=video,
                        idx=i,
                        t_start=i * 4.0,
                        t_end=i * 4.0 + 3.5,
                        text=texts[i],
                    )
                    for i in range(count)
                ],
            )
            await store.save_embeddings(
                [
                    Embedding(
                        owner_id=segment_id(video, i),
                        video_id=video,
                        kind="segment",
                        model="synthetic-384",
                        vector=vectors[i].tolist(),
                        text_hash=str(i),
                    )
                    for i in range(count)
                ]
            )
        # The first search builds pgvector's HNSW index if it is not there yet.
        await store.search(centers[0].tolist(), model="synthetic-384", k=10)
    return time.perf_counter() - started


def scale_queries() -> tuple[list[str], np.ndarray]:
    """40 query texts and vectors, drawn like the stored ones."""
    rng = np.random.default_rng(99)
    centers = np.random.default_rng(21).normal(size=(64, DIM)).astype(np.float32)
    return scale_texts(rng, 40), scale_vectors(rng, 40, centers)


async def search_child(url: str, n: int) -> dict[str, Any]:
    """In a fresh process: query latencies and this process's peak RSS."""
    rng = np.random.default_rng(7)
    texts, vectors = scale_queries()
    videos = max(1, n // PER_VIDEO)
    result: dict[str, Any] = {"rss_before_mb": _rss_mb()}
    async with vp.open_store(url) as store:
        await store.search(vectors[0].tolist(), model="synthetic-384", k=10, keywords=texts[0])
        for label, filtered in (("unfiltered", False), ("3 videos", True)):
            times, cpu = [], []
            for text, vector in zip(texts, vectors, strict=True):
                ids = (
                    [f"s{int(v):05d}" for v in rng.integers(0, videos, size=3)]
                    if filtered
                    else None
                )
                started, cpu_started = time.perf_counter(), time.process_time()
                await store.search(
                    vector.tolist(), model="synthetic-384", k=10, keywords=text,
                    video_ids=ids, min_score=0.0,
                )  # fmt: skip
                times.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
            times.sort()
            result[label] = {
                "p50_ms": statistics.median(times),
                "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))],
                "cpu_p50_ms": statistics.median(cpu),
            }
        # Vector-only (no keywords): the hits the index found, for recall against exact.
        times = []
        result["vector_hits"] = []
        for vector in vectors:
            started = time.perf_counter()
            hits = await store.search(vector.tolist(), model="synthetic-384", k=10)
            times.append((time.perf_counter() - started) * 1000)
            result["vector_hits"].append([h.id for h in hits])
        result["vector only"] = {"p50_ms": statistics.median(times)}
    result["peak_rss_mb"] = _rss_mb()
    return result


def exact_top(url: str, vectors: np.ndarray, k: int = 10) -> list[list[str]]:
    """The exact top `k` owners of each query by cosine, streamed from the database."""
    queries = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    best_ids: list[list[str]] = [[] for _ in queries]
    best_scores = [np.empty(0, dtype=np.float32) for _ in queries]

    def add(owners: list[str], matrix: np.ndarray) -> None:
        matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        scores = matrix @ queries.T
        for q in range(len(queries)):
            ids = best_ids[q] + owners
            all_scores = np.concatenate([best_scores[q], scores[:, q]])
            top = np.argsort(-all_scores, kind="stable")[:k]
            best_ids[q] = [ids[i] for i in top]
            best_scores[q] = all_scores[top]

    if url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            cursor = conn.execute("SELECT owner_id, vector FROM embeddings")
            while rows := cursor.fetchmany(8192):
                blob = b"".join(r[1] for r in rows)
                add([r[0] for r in rows], np.frombuffer(blob, "<f4").reshape(len(rows), DIM))
    else:
        import psycopg

        stride = 20 + 8 * DIM
        with psycopg.connect(url) as conn, conn.cursor(name="exact") as cursor:
            cursor.execute("SELECT owner_id, array_send(vector) FROM embeddings")
            while rows := cursor.fetchmany(8192):
                blob = np.frombuffer(b"".join(r[1] for r in rows), np.uint8)
                packed = np.ascontiguousarray(blob.reshape(len(rows), stride)[:, 20:])
                add([r[0] for r in rows], packed.view(">f4")[:, 1::2].astype(np.float32))
    return best_ids


#: The issue's figures before this work (#21): unfiltered p50 in ms at 10k / 100k / 1M.
BASELINE_MS = {
    "SQLite": {10_000: 37.0, 100_000: 395.0, 1_000_000: 5500.0},
    "PostgreSQL": {10_000: 174.0, 100_000: 1800.0, 1_000_000: 23000.0},
}


def _rss_mb() -> float:
    """This process's peak RSS: VmHWM, which starts afresh at exec.

    (`ru_maxrss` does not: Linux carries it over from the parent, here the process
    that built the database, so it would report the builder's peak.)
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def db_size(url: str) -> float:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        assert row is not None
        return float(row[0]) / 1e6


def fresh_database(dsn: str, name: str) -> str:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


def drop_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def scale(args: argparse.Namespace) -> None:
    times = IndexTimes()
    logging.getLogger("videopipe").addHandler(times)
    logging.getLogger("videopipe").setLevel(logging.INFO)
    suffix = os.getpid()  # several runs side by side on one server do not collide
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        targets = []
        if not args.no_sqlite:
            targets.append(("SQLite", f"sqlite:///{tmp}/scale.db"))
        if args.dsn:
            url = fresh_database(args.dsn, f"videopipe_bench_search_{suffix}")
            targets.append(("PostgreSQL", url))
        if args.pgvector_dsn:
            url = fresh_database(args.pgvector_dsn, f"videopipe_bench_search_vec_{suffix}")
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            targets.append(("PostgreSQL+pgvector", url))
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for name, url in targets:
            times.seconds, times.trainings = 0.0, []
            build = anyio.run(build_scale, url, args.scale)
            size = db_size(url)
            child = subprocess.run(
                [sys.executable, __file__, "--child", url, "--scale", str(args.scale)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            got = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"{name:<20} N={args.scale:>8,}  build {build:6.1f} s  size {size:7.1f} MB  "
                f"unfiltered p50 {got['unfiltered']['p50_ms']:7.1f} ms p99 "
                f"{got['unfiltered']['p99_ms']:7.1f} ms  3 videos p50 "
                f"{got['3 videos']['p50_ms']:6.1f} ms p99 {got['3 videos']['p99_ms']:6.1f} ms  "
                f"client CPU p50 {got['unfiltered']['cpu_p50_ms']:.1f} / "
                f"{got['3 videos']['cpu_p50_ms']:.1f} ms  "
                f"peak RSS {got['peak_rss_mb']:6.0f} MB (after import {got['rss_before_mb']:.0f})"
            )
            exact = exact_top(url, scale_queries()[1])
            recall = statistics.mean(
                len(set(found) & set(want)) / len(want)
                for found, want in zip(got["vector_hits"], exact, strict=True)
            )
            print(
                f"{'':<20} IVF training {times.seconds:.1f} s of the build "
                f"({len(times.trainings)} trainings; last: "
                f"{times.trainings[-1] if times.trainings else 'none'}); vector-only p50 "
                f"{got['vector only']['p50_ms']:.1f} ms, recall@10 against an exact scan "
                f"{recall:.3f}"
            )
            baseline = BASELINE_MS.get(name, {}).get(args.scale)
            if baseline:
                ratio = baseline / got["unfiltered"]["p50_ms"]
                print(
                    f"{'':<20} unfiltered p50 against the issue's baseline ({baseline:.0f} ms): "
                    f"{ratio:.1f}x faster"
                )
            if url.startswith("postgresql"):
                drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=0, help="segments for the scale run")
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"), help="PostgreSQL")
    parser.add_argument("--pgvector-dsn", help="PostgreSQL where pgvector can be created")
    parser.add_argument("--verbose", action="store_true", help="each query's fused top hit")
    parser.add_argument("--no-sqlite", action="store_true", help="scale: PostgreSQL only")
    parser.add_argument("--tmp", help="scale: directory for the SQLite file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(anyio.run(search_child, args.child, args.scale)))
    elif args.scale:
        scale(args)
    else:
        anyio.run(relevance, args)


if __name__ == "__main__":
    main()
