"""Benchmark media in object storage: the local stages with inputs and DATA_DIR in a bucket.

Run:  python benchmarks/bench_objectstore.py            (about 3 minutes on 2 cores)
      python benchmarks/bench_objectstore.py --videos 40 --rounds 2

40 short distinct clips (4 s, 640x360, a cut at 2 s, a tone) go through the
local stages (normalize, scenes, frames) in one run, each way (`--rounds`
alternates them), on a MemoryStore, two videos at a time:

- **local**: inputs and `DATA_DIR` on the local disk (the baseline);
- **s3**: inputs and `DATA_DIR` in a bucket of a `moto` S3 server started on
  this machine (in a subprocess), with the scratch space in a temporary directory.

It prints the wall-time ratio s3/local (goal <= 1.15x) and the CPU-time ratio
(this process, FFmpeg, and the S3 server's own CPU: on a loaded machine the
CPU seconds say more than the wall time), the bytes read from the bucket per
video (goal: each input read once, and nothing else: the later stages use the
run's local copy of what normalize published), and the peak scratch disk use
(sampled) against `SCRATCH_MAX_MB` and the reservations' peak (goal: bounded by
the setting, independent of the number of videos).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil

import videopipe as vp
from videopipe import _locations as loc
from videopipe._media import find_ffmpeg
from videopipe._scratch import disk_usage
from videopipe.stages import DetectScenes, ExtractFrames, Normalize
from videopipe.testing import MemoryStore


def make_clips(out: Path, count: int) -> list[Path]:
    """`count` distinct 4 s clips: two scenes (a hue per clip), a tone per clip."""
    out.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(count):
        clip = out / f"clip_{i:03d}.mp4"
        clips.append(clip)
        if clip.exists():
            continue
        graph = f"[0:v]hue=h={i * 9}[a];[1:v]hue=h={i * 9}[b];[a][b]concat=n=2:v=1:a=0[v]"
        subprocess.run(
            [
                find_ffmpeg(), "-nostdin", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=2",
                "-f", "lavfi", "-i", "smptebars=size=640x360:rate=30:duration=2",
                "-f", "lavfi", "-i", f"sine=frequency={300 + 10 * i}:duration=4",
                "-filter_complex", graph, "-map", "[v]", "-map", "2:a",
                "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", "-shortest", str(clip),
            ],
            check=True,
        )  # fmt: skip
    return clips


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(f"{url}/moto-api/", timeout=5)
            return server, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("moto server did not start")


class Sampler:
    """The largest disk use of a directory, sampled every 20 ms in a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            if self.path.exists():
                self.peak = max(self.peak, disk_usage(self.path))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds(server: psutil.Process) -> tuple[float, float]:
    """CPU seconds of this process and its waited-for children (FFmpeg), and of the S3 server."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    times = server.cpu_times()
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, times.user + times.system


async def run(
    inputs: list[str], data_dir: str | Path, settings: vp.Settings, server: psutil.Process
) -> dict[str, Any]:
    pipeline = vp.Pipeline(
        [Normalize(), DetectScenes(), ExtractFrames()],
        store=MemoryStore(),
        data_dir=data_dir,
        settings=settings,
    )
    loc.transfers(reset=True)
    with Sampler(settings.scratch_dir) as sampler:
        cpu0, server0 = cpu_seconds(server)
        t0 = time.perf_counter()
        results = await pipeline.run_many(inputs, concurrency=2)
        wall = time.perf_counter() - t0
        cpu1, server1 = cpu_seconds(server)
    failed = [r for r in results if not r.ok]
    if failed:
        raise SystemExit(f"{len(failed)} videos failed: {failed[0]}")
    return {
        "wall": wall,
        "cpu": cpu1 - cpu0,
        "server_cpu": server1 - server0,
        "transfers": loc.transfers(),
        "scratch_peak": sampler.peak,
        "reserved_peak": pipeline.scratch().peak if isinstance(data_dir, str) else 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--scratch-max-mb", type=int, default=64)
    parser.add_argument(
        "--media-dir", type=Path, default=Path(tempfile.gettempdir()) / "videopipe-bench-objstore"
    )
    args = parser.parse_args()
    clips = make_clips(args.media_dir, args.videos)
    sizes = {c.name: c.stat().st_size for c in clips}
    server, endpoint = start_moto()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
    )
    try:
        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=endpoint)
        fs.mkdir("bench")
        for clip in clips:
            fs.put_file(str(clip), f"bench/inputs/{clip.name}")
        remote_inputs = [f"s3://bench/inputs/{c.name}" for c in clips]
        walls: dict[str, list[float]] = {"local": [], "s3": []}
        cpus: dict[str, list[float]] = {"local": [], "s3": []}
        last: dict[str, Any] = {}
        for r in range(args.rounds):
            for kind in ("local", "s3"):
                with tempfile.TemporaryDirectory() as tmp:
                    settings = vp.Settings(
                        _env_file=None,
                        scratch_dir=Path(tmp) / "scratch",
                        scratch_max_mb=args.scratch_max_mb,
                    )
                    if kind == "local":
                        inputs: list[str] = [str(c) for c in clips]
                        data: str | Path = Path(tmp) / "data"
                    else:
                        inputs, data = remote_inputs, f"s3://bench/data-{r}"
                    out = anyio.run(run, inputs, data, settings, psutil.Process(server.pid))
                walls[kind].append(out["wall"])
                cpus[kind].append(out["cpu"] + out["server_cpu"])
                last[kind] = out
                print(
                    f"round {r + 1} {kind:<5}: {out['wall']:6.1f} s wall, {out['cpu']:6.1f} CPU s "
                    f"+ {out['server_cpu']:5.1f} CPU s in the S3 server "
                    f"(load {os.getloadavg()[0]:.0f})"
                )
    finally:
        server.kill()
        server.wait()
    n = args.videos
    local, s3 = min(walls["local"]), min(walls["s3"])
    t: loc.Transfers = last["s3"]["transfers"]
    input_bytes = sum(t_bytes for t_bytes in sizes.values())
    input_reads = {u: c for u, c in t.reads.items() if "/inputs/" in u}
    print()
    print(f"{n} videos, 4 s 640x360 each ({input_bytes / n / 1024:,.0f} KiB), concurrency 2")
    print(f"wall, local disk:      {local:6.1f} s  ({local / n:.2f} s a video)")
    print(f"wall, S3 (moto):       {s3:6.1f} s  ({s3 / n:.2f} s a video)")
    print(f"ratio s3/local:        {s3 / local:6.2f}x   (goal <= 1.15x)")
    cpu_local, cpu_s3 = min(cpus["local"]), min(cpus["s3"])
    print(
        f"CPU s3/local:          {cpu_s3 / cpu_local:6.2f}x   "
        f"({cpu_local:.1f} vs {cpu_s3:.1f} CPU s, the S3 server's included)"
    )
    print(
        f"input reads per video: {sum(input_reads.values()) / n:.2f}  "
        f"(each of {len(input_reads)} inputs read {set(input_reads.values())} time(s))"
    )
    print(
        f"bytes read per video:  {t.bytes_read / n / 1024:,.0f} KiB "
        f"(the inputs: {input_bytes / n / 1024:,.0f} KiB)"
    )
    print(
        f"bytes written a video: {t.bytes_written / n / 1024:,.0f} KiB "
        f"in {t.files_written / n:.1f} files"
    )
    print(
        f"peak scratch on disk:  {last['s3']['scratch_peak'] / 2**20:.1f} MiB "
        f"(downloads reserved at peak {last['s3']['reserved_peak'] / 2**20:.1f} MiB; "
        f"SCRATCH_MAX_MB={args.scratch_max_mb})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
