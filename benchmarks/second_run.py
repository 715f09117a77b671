"""A second run that changes only the LR, against the first: how much the on-disk caches save end to end.

    python benchmarks/second_run.py --images 600,3000 --backbones squeezenet1_1,efficientnet_lite0

For each dataset size and backbone: `tlstudio train --data D --backbone B --weights imagenet --epochs 10
--lr 1e-3` in a fresh process with an empty cache folder (the first run: scan, decode, backbone pass over
every image), then the same with `--lr 3e-3` (the second run: the decoded images, the scan's checks and
the frozen features come from the cache). Wall clock of each whole process, start to exit. The backbone's
ONNX Runtime graph is converted once beforehand ("per backbone", as for a user who has trained with that
backbone before); the first-ever run, conversion included, is reported too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scale import make_dataset


def train(data: Path, backbone: str, lr: float, cache: Path, out: Path) -> float:
    env = dict(os.environ, TLSTUDIO_CACHE_DIR=str(cache), TF_CPP_MIN_LOG_LEVEL="3")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tlstudio", "train", "--data", str(data), "--backbone", backbone,
                           "--weights", "imagenet", "--epochs", "10", "--lr", str(lr), "--out", str(out), "--quiet"],
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default="600,3000")
    parser.add_argument("--backbones", default="squeezenet1_1,efficientnet_lite0")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "tlstudio-bench-scale")
    args = parser.parse_args()
    print("| data | backbone | first-ever run | first run | second run | ratio |")
    print("|---|---|---|---|---|---|")
    for images in (int(n) for n in args.images.split(",")):
        data = make_dataset(args.data, images)
        for backbone in args.backbones.split(","):
            with tempfile.TemporaryDirectory() as work:
                work = Path(work)
                ever = train(data, backbone, 1e-3, work / "cache", work / "run0")
                # Keep only the converted backbone: new data for a backbone used before.
                for kind in ("images", "features", "scan-checks"):
                    shutil.rmtree(work / "cache" / kind, ignore_errors=True)
                first = train(data, backbone, 1e-3, work / "cache", work / "run1")
                second = train(data, backbone, 3e-3, work / "cache", work / "run2")
            print(f"| {images:,} images | {backbone} | {ever:.1f} s | {first:.1f} s | {second:.1f} s | "
                  f"{first / second:.1f}× |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
