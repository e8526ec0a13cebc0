"""Measure what installing videopipe weighs: the core and each extra, in fresh virtual environments.

Run:  python benchmarks/bench_install_size.py                 (the core and every extra)
      python benchmarks/bench_install_size.py core local      (only these)
      python benchmarks/bench_install_size.py --baseline 'imagehash>=4.3'

For each target it creates a venv, `pip install`s this checkout (with the
extra), and prints the size of `site-packages` (without pip and setuptools),
the number of packages, and the largest ones by the size of the files their
metadata lists. An extra's line also says what it adds to the core.
`--baseline` installs the core plus the given requirements once more (for
example the dependency a change removed) and prints the core as a ratio of it.
The figures in docs/quickstart.md ("What the install weighs") come from here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ["core", "openai", "postgres", "local", "pandas", "polars"]
SKIP = {"pip", "setuptools"}

# Runs inside each venv: the size of every installed distribution.
_SIZES = """
import importlib.metadata as m, json, os, sysconfig
site = sysconfig.get_paths()["purelib"]
sizes = {}
for dist in m.distributions():
    name = dist.metadata["Name"]
    total = 0
    for file in dist.files or []:
        try:
            total += os.path.getsize(os.path.join(site, str(file)))
        except OSError:
            pass
    sizes[f"{name}=={dist.version}"] = total
print(json.dumps(sizes))
"""


def measure(target: str, extra_requirements: list[str], work: Path) -> dict[str, int]:
    """Install videopipe (`target`: "core" or an extra) into a fresh venv; sizes by package."""
    venv = work / f"venv-{target}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    spec = str(ROOT) if target in {"core", "baseline"} else f"{ROOT}[{target}]"
    subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", spec, *extra_requirements],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    out = subprocess.run(
        [venv / "bin" / "python", "-c", _SIZES], check=True, capture_output=True, text=True
    )
    sizes: dict[str, int] = json.loads(out.stdout)
    return {name: size for name, size in sizes.items() if name.split("==")[0] not in SKIP}


def mb(size: float) -> str:
    return f"{size / 1e6:7.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=EXTRAS, help="core and/or extras")
    parser.add_argument("--baseline", nargs="*", default=[], help="requirements added to core")
    parser.add_argument("--top", type=int, default=8, help="largest packages shown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="videopipe-size-") as tmp:
        results = {t: measure(t, [], Path(tmp)) for t in args.targets}
        core = results.get("core") or measure("core", [], Path(tmp))
        for target, sizes in results.items():
            total = sum(sizes.values())
            line = f"{target:<9} {mb(total)} in {len(sizes)} packages"
            if target != "core":
                added = {n: s for n, s in sizes.items() if n not in core}
                line += f"  (core + {mb(sum(added.values())).strip()}: {', '.join(sorted(added))})"
            print(line)
            for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])[: args.top]:
                print(f"    {mb(size)}  {name}")
        if args.baseline:
            base = sum(measure("baseline", args.baseline, Path(tmp)).values())
            ratio = sum(core.values()) / base
            print(f"core / core + {' '.join(args.baseline)} = {ratio:.2f}")


if __name__ == "__main__":
    main()
