"""Launch cycle of the released provider beside the development install's (target: no more than it, ratio ≤ 1.0).

Builds the release (packaging/build_package.py), unpacks it as Terraform does, then runs launch cycles (exec →
handshake → GetProviderSchema → Shutdown → exit, bench/launch_cycle.py) of the unpacked executable and of the
`terraform-provider-dbaas` console script of this environment, interleaved pair by pair (which side goes first
alternates); prints each side's median and the median of the per-pair ratios packaged / development.
Both run on the same interpreter: the released launcher is given this environment's base Python through
DBAAS_PROVIDER_PYTHON (its default, python3 on PATH, may be a slower shim such as pyenv's).
Usage: python bench/package_launch.py [--runs N] [--python INTERPRETER]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.launch_cycle import one_cycle
from tests.plugin_process import REPO, make_client_identity


def unpacked_release(directory: Path) -> Path:
    """Build the release into `directory` and unpack it there; returns the executable."""
    dist = directory / "dist"
    subprocess.run(
        [sys.executable, str(REPO / "packaging" / "build_package.py"), "--dist", str(dist)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (zip_path,) = dist.glob("*_linux_amd64.zip")
    unpacked = directory / "provider"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(unpacked)
        executables = [e.filename for e in archive.infolist() if (e.external_attr >> 16) & 0o111]
    (executable,) = executables
    (unpacked / executable).chmod(0o755)  # zipfile does not restore modes; Terraform's unzip does
    return unpacked / executable


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--python", default=os.path.realpath(sys.executable), help="the released launcher's Python")
    args = parser.parse_args()
    development = shutil.which("terraform-provider-dbaas", path=str(Path(sys.executable).parent))
    if development is None:
        sys.exit("terraform-provider-dbaas is not installed in this environment: run `make install`")
    with tempfile.TemporaryDirectory(prefix="dbaas-package-launch-") as scratch:
        released = unpacked_release(Path(scratch))
        os.environ["DBAAS_PROVIDER_PYTHON"] = args.python  # read by the released launcher alone
        client = make_client_identity("P-521")
        sides = {"development": [development], "released": [str(released)]}
        for command in sides.values():
            one_cycle(command, client)  # warm the page cache
        totals: dict[str, list[float]] = {side: [] for side in sides}
        for run in range(max(args.runs, 15)):
            order = list(sides) if run % 2 == 0 else list(reversed(sides))
            for side in order:
                totals[side].append(one_cycle(sides[side], client)[0] * 1000)
    ratios = [r / d for r, d in zip(totals["released"], totals["development"], strict=True)]
    print(f"launch cycle over {len(ratios)} interleaved pairs, released launcher on {args.python}:")
    for side, values in totals.items():
        print(f"  {side}: median {statistics.median(values):.1f} ms (min {min(values):.1f}, max {max(values):.1f})")
    print(
        f"  released / development, pair by pair: median {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}); target <= 1.0"
    )


if __name__ == "__main__":
    main()
