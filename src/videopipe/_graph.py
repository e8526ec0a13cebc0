"""The stage graph: stages checked for unique names and known requirements, in run order."""

from __future__ import annotations

import graphlib
from collections.abc import Sequence

from ._exceptions import ConfigurationError
from ._stage import Stage

__all__ = ["order_stages"]


def order_stages(stages: Sequence[Stage]) -> list[Stage]:
    """`stages` in an order where every stage comes after the stages it requires.

    Among stages that are ready together, the given order is kept.

    Raises:
        ConfigurationError: Two stages share a name, a stage requires one that is not
            in the pipeline, or the requirements form a cycle.
    """
    names = [s.name for s in stages]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigurationError(f"two stages are named {name!r}: stage names must be unique")
        seen.add(name)
    by_name = {s.name: s for s in stages}
    for stage in stages:
        for need in stage.requires:
            if need not in by_name:
                raise ConfigurationError(
                    f"stage {stage.name!r} requires {need!r}, which is not in the pipeline "
                    f"(stages: {', '.join(names)})"
                )
    sorter = graphlib.TopologicalSorter({s.name: set(s.requires) for s in stages})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = sorted(set(exc.args[1]))
        raise ConfigurationError(
            f"the stages' requirements form a cycle among: {', '.join(cycle)}"
        ) from None
    position = {name: i for i, name in enumerate(names)}
    order: list[Stage] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order.extend(by_name[name] for name in ready)
        sorter.done(*ready)
    return order
