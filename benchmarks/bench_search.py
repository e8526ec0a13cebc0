"""Benchmark search: relevance on a labeled set, and latency and memory at scale.

Run:  python benchmarks/bench_search.py                       (relevance: minutes, then seconds)
      python benchmarks/bench_search.py --scale 100000        (SQLite, and PostgreSQL at --dsn)
      python benchmarks/bench_search.py --scale 100000 --pgvector-dsn postgresql://...

**Relevance.** Eight talks the benchmark generates (`relevance_media.py`): 66
distinct sentences said by espeak-ng, with groups that share most words and
differ only by a number or a name (`the quarterly budget for region 3 ...`,
`Episode 2 covers ...`, `Kenji presented ...`), over slides of which 16 show
burnt-in text (codes, slide numbers, names: `ORDER ZX-4473 SHIPPED`). They are
run through the real default pipeline with `LocalProvider` (transcription, OCR,
embeddings, all offline) into SQLite under --work-dir, which keeps media,
database and processed files, so a rerun only searches. 48 queries with known
answers in five groups (exact sentences, paraphrases, numbers, codes, names) and
10 with no answer; an answer is a moment (video, kind, time), so a hit is right
when it is of that video and kind and its span holds the moment. For each of
vector-only search (no keywords), full-text-only (the engine's FTS5 BM25
ranking) and fused search (`Vectors.search` with keywords), and for reciprocal
rank fusion (k=60) of the first two as the baseline, it prints recall@1,
recall@5 and MRR per group, the share of no-answer queries that return nothing
at the default `min_score` and at a few others, and whether the goal holds.

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
import hashlib
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import numpy as np
from relevance_media import Target, make_talks, recipe_key, right, targets, video_id
from relevance_media import queries as relevance_queries

import videopipe as vp
from videopipe._models import Embedding, TranscriptSegment, Video, segment_id
from videopipe._search import DEFAULT_MIN_SCORE
from videopipe.providers import LocalProvider
from videopipe.storage import SQLiteStore, _fulltext, _ranking
from videopipe.storage._fulltext import TextQuery
from videopipe.storage._sqlite._connection import _Q

# --- relevance, on generated media (the set is in relevance_media.py) ----------------------


@dataclass(frozen=True)
class Span:
    """Where a stored text is: its video, kind and time span (a caption spans its scene)."""

    video_id: str
    kind: str
    t_start: float
    t_end: float


async def spans(store: SQLiteStore, video_ids: list[str]) -> dict[str, Span]:
    """Every segment's and caption's span, by owner ID (for the full-text ranking)."""
    out: dict[str, Span] = {}
    for video in video_ids:
        for seg in await store.list_segments(video):
            out[seg.id] = Span(video, "segment", seg.t_start, seg.t_end)
        scenes = await store.list_scenes(video)
        for cap in await store.list_captions(video):
            scene = next((s for s in scenes if s.t_start <= cap.t <= s.t_end), None)
            start, end = (scene.t_start, scene.t_end) if scene else (cap.t, cap.t)
            out[cap.id] = Span(video, "caption", start, end)
    return out


async def full_text_ranking(store: SQLiteStore, query: str, model: str) -> list[str]:
    """The owner IDs FTS5 ranks best (BM25) for `query`, at most 10."""
    match = TextQuery.parse(query).fts5()
    if match is None:
        return []
    params = {"match": match, "model": model, "kinds": None, "video_ids": None, "n": 10}
    rows = await store._run(lambda conn: conn.execute(_Q["text_candidates"], params).fetchall())
    return [row["owner_id"] for row in rows]


def rrf(*rankings: list[Any], k: int = 60) -> list[Any]:
    """Reciprocal rank fusion of rankings of hashable items."""
    scores: dict[Any, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores, key=lambda o: -scores[o])


def metrics(rankings: list[list[Any]], answers: list[list[Target]]) -> tuple[float, float, float]:
    """Recall@1, recall@5 and MRR (over the first 10) of `rankings` of hits or spans."""
    r1 = r5 = mrr = 0.0
    for ranking, want in zip(rankings, answers, strict=True):
        ranks = [i for i, hit in enumerate(ranking[:10]) if right(hit, want)]
        r1 += bool(ranks) and ranks[0] == 0
        r5 += bool(ranks) and ranks[0] < 5
        mrr += 1.0 / (ranks[0] + 1) if ranks else 0.0
    n = len(answers) or 1
    return r1 / n, r5 / n, mrr / n


async def process_talks(
    store: SQLiteStore, provider: Any, work: Path, talks: list[tuple[Path, Any]]
) -> list[str]:
    """Run each talk through the default pipeline (which resumes: done is done)."""
    started = time.perf_counter()
    settings = vp.Settings(data_dir=work / "data")
    pipeline = vp.Pipeline.default(store=store, provider=provider, settings=settings)
    ids = []
    for t, (path, _) in enumerate(talks):
        result = await pipeline.run(path, video_id=video_id(t))
        if not result.ok:
            raise SystemExit(f"processing {path} failed: {result.error}")
        ids.append(video_id(t))
    segments = sum([len(await store.list_segments(v)) for v in ids])
    captions = sum([len(await store.list_captions(v)) for v in ids])
    print(
        f"processed by the default pipeline (LocalProvider) in "
        f"{time.perf_counter() - started:.1f} s: {segments} transcript segments, "
        f"{captions} frame captions"
    )
    return ids


def tokenizer_key() -> str:
    """A digest of how videopipe cuts terms (the full-text index): a new cut, a new database."""
    rules = [_fulltext._TERM.pattern, sorted(_fulltext.NUMBER_WORDS.items())]
    return hashlib.sha256(json.dumps(rules).encode()).hexdigest()[:8]


async def relevance(args: argparse.Namespace) -> None:
    """Recall@1, recall@5 and MRR per query group for vector, full-text, RRF and fused search."""
    provider = LocalProvider()
    model = provider.embedding_model
    work: Path = args.work_dir / recipe_key()  # new talks, new database
    queries = relevance_queries()
    started = time.perf_counter()
    talks = await anyio.to_thread.run_sync(make_talks, work / "media")
    print(f"{len(talks)} talks generated or found in {time.perf_counter() - started:.1f} s")
    async with SQLiteStore(work / f"relevance-{tokenizer_key()}.db") as store:
        ids = await process_talks(store, provider, work, talks)
        answers_at = targets([truth for _, truth in talks])
        wanted = [[answers_at[key] for key in keys] for _, _, keys in queries]
        where = await spans(store, ids)
        embedded = await provider.embed([q for _, q, _ in queries])
        results: dict[str, list[list[Any]]] = {m: [] for m in ("vector", "text", "rrf", "fused")}
        fused_scores: list[list[float]] = []
        for (_, query, _), vector in zip(queries, embedded.vectors, strict=True):
            by_vector = await store.search(vector, model=model, k=10)
            by_text = [where[o] for o in await full_text_ranking(store, query, model)]
            fused = await store.search(vector, model=model, k=10, keywords=query, min_score=0.0)
            results["vector"].append(by_vector)
            results["text"].append(by_text)
            results["rrf"].append(
                rrf([Span(h.video_id, h.kind, h.t_start, h.t_end) for h in by_vector], by_text)
            )
            results["fused"].append(fused)
            fused_scores.append([h.score for h in fused])
        if args.variants:
            await fusion_variants(store, embedded.vectors, model, queries, wanted)
    groups = ["exact", "paraphrase", "number", "code", "name"]
    answerable = [i for i, (g, _, _) in enumerate(queries) if g != "none"]
    print(f"\n{len(answerable)} queries with an answer, {len(queries) - len(answerable)} without")
    print(f"{'method':<8} {'group':<11} {'n':>3} {'recall@1':>9} {'recall@5':>9} {'MRR':>6}")
    table: dict[tuple[str, str], float] = {}
    for method in ("vector", "text", "rrf", "fused"):
        for group in [*groups, "all"]:
            idx = [i for i in answerable if group in ("all", queries[i][0])]
            r1, r5, mrr = metrics([results[method][i] for i in idx], [wanted[i] for i in idx])
            table[method, group] = r1
            print(f"{method:<8} {group:<11} {len(idx):>3} {r1:>9.3f} {r5:>9.3f} {mrr:>6.3f}")
    none = [i for i, (g, _, _) in enumerate(queries) if g == "none"]
    print(
        "\nmin_score  no-answer queries returning nothing  answerable queries keeping their top hit"
    )
    for cut in sorted({0.2, 0.25, 0.3, 0.35, 0.4, 0.45, DEFAULT_MIN_SCORE}):
        empty = sum(all(s < cut for s in fused_scores[i]) for i in none) / len(none)
        kept = sum(
            bool(results["fused"][i])
            and right(results["fused"][i][0], wanted[i])
            and fused_scores[i][0] >= cut
            for i in answerable
        ) / len(answerable)
        mark = "  (default)" if cut == DEFAULT_MIN_SCORE else ""
        print(f"{cut:>9.2f}  {empty:>36.0%}  {kept:>40.0%}{mark}")
    empty = sum(all(s < DEFAULT_MIN_SCORE for s in fused_scores[i]) for i in none) / len(none)
    behind = [
        f"{g} (fused {table['fused', g]:.3f} < {m} {table[m, g]:.3f})"
        for g in groups
        for m in ("vector", "text")
        if table["fused", g] < table[m, g]
    ]
    met = table["fused", "all"] >= 0.9 and not behind and empty >= 0.8
    print(
        f"\ngoal (fused recall@1 >= 0.9, never behind either side in a group, >= 80 % of "
        f"no-answer queries empty): {'met' if met else 'MISSED'}"
        + (f"; behind in {', '.join(behind)}" if behind else "")
    )
    if args.verbose:
        for i, (group, query, _) in enumerate(queries):
            top = [h for h in results["fused"][i][:1] if h.score >= DEFAULT_MIN_SCORE]
            ok = (
                "ok "
                if (top and right(top[0], wanted[i])) or (not wanted[i] and not top)
                else "MISS"
            )
            said = f"{top[0].video_id} {top[0].t_start:.1f}s {top[0].text!r}" if top else "-"
            print(f"{ok} {group:<10} {query!r}: fused {said} scores {fused_scores[i][:2]}")


#: The fusions compared (`--variants`): the settings of `_ranking` each one sets.
VARIANTS: dict[str, dict[str, Any]] = {
    "0.6c+0.4 share": {"RARE_TERMS_WEIGH_MORE": False, "COSINE_FLOOR": 0.0},
    "0.6c+0.4 weighted share": {"RARE_TERMS_WEIGH_MORE": True, "COSINE_FLOOR": 0.0},
    "max(c, 0.6c+0.4 share)": {"RARE_TERMS_WEIGH_MORE": False, "COSINE_FLOOR": 1.0},
    "max(0.8c, 0.6c+0.4 wtd)": {"RARE_TERMS_WEIGH_MORE": True, "COSINE_FLOOR": 0.8},
    "max(0.9c, 0.6c+0.4 wtd)": {"RARE_TERMS_WEIGH_MORE": True, "COSINE_FLOOR": 0.9},
    "max(c, 0.6c+0.4 wtd)": {"RARE_TERMS_WEIGH_MORE": True, "COSINE_FLOOR": 1.0},
}


async def fusion_variants(
    store: SQLiteStore,
    vectors: list[list[float]],
    model: str,
    queries: list[tuple[str, str, list[str]]],
    wanted: list[list[Target]],
) -> None:
    """Recall@1 per group, and no-answer queries left empty, for each fusion of `VARIANTS`."""
    groups = ["exact", "paraphrase", "number", "code", "name"]
    print("\nfusion (recall@1)         " + " ".join(f"{g:>10}" for g in [*groups, "all"]), end="")
    print(f"   at min_score {DEFAULT_MIN_SCORE}: no-answer empty / answerable right")
    for name, knobs in VARIANTS.items():
        saved = {knob: getattr(_ranking, knob) for knob in knobs}
        for knob, value in knobs.items():
            setattr(_ranking, knob, value)
        try:
            ranked = [
                await store.search(v, model=model, k=10, keywords=q, min_score=0.0)
                for (_, q, _), v in zip(queries, vectors, strict=True)
            ]
        finally:
            for knob, value in saved.items():
                setattr(_ranking, knob, value)
        cells = []
        for group in [*groups, "all"]:
            idx = [i for i, q in enumerate(queries) if q[0] != "none" and group in ("all", q[0])]
            r1, _, _ = metrics([ranked[i] for i in idx], [wanted[i] for i in idx])
            cells.append(f"{r1:>10.3f}")
        none = [i for i, q in enumerate(queries) if q[0] == "none"]
        empty = sum(not ranked[i] or ranked[i][0].score < DEFAULT_MIN_SCORE for i in none)
        some = [i for i, q in enumerate(queries) if q[0] != "none"]
        kept = sum(
            bool(ranked[i])
            and ranked[i][0].score >= DEFAULT_MIN_SCORE
            and right(ranked[i][0], wanted[i])
            for i in some
        )
        mark = " *" if all(getattr(_ranking, k) == v for k, v in knobs.items()) else "  "
        print(
            f"{name:<25}{mark}" + " ".join(cells) + f"   {empty / len(none):>6.0%} / "
            f"{kept / len(some):.0%}"
        )
    print("(* the default)")


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
    parser.add_argument("--variants", action="store_true", help="other fusions, same candidates")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "videopipe-bench-search",
        help="where the relevance talks, their database and processed files are kept",
    )
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
