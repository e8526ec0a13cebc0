"""A Ray driver in a process of its own, for the test that stops its whole cluster.

`python -m tests.ray_cluster.driver ADDRESS STORE SIDE DATA CLIP...` runs
`videopipe.ray.process` on the cluster at ADDRESS with the test pipeline (one
actor, video held, see `tests.ray_cluster.pipelines`). A process can join one Ray
cluster only, so this driver cannot share the test's process.
"""

from __future__ import annotations

import sys

import anyio

from tests.ray_cluster.pipelines import Default
from videopipe import ray as vp_ray


async def main(address: str, store: str, side: str, data: str, clips: list[str]) -> None:
    await vp_ray.process(
        clips,
        store=store,
        pipeline=Default(side=side, data_dir=data),
        num_workers=1,
        address=address,
        lease=3.0,
        progress=False,
    )


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:5], sys.argv[5:])
