"""How cost grows with the data: a frozen-backbone run on 1k, 5k and 20k images, each in a fresh process.

    python benchmarks/scale.py                    # 1000,5000,20000 images, SqueezeNet 1.1 at 224 px
    python benchmarks/scale.py --sizes 1000 --json scale.json

Each size gets its own synthetic dataset (5 shape classes of 256 px PNG/JPEG, made once under --data and
kept) and a cold cache folder, and is trained for 3 epochs with the backbone frozen (the feature cache on).
Reported per size: wall time of the whole process, images/s over the run (images x epochs / time after
imports), and peak resident memory of the process (ru_maxrss). The decoded images never sit in memory
whole: they are decoded into the image cache's memory-mapped file and read a batch at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r'''
import json, resource, sys, time
start = time.perf_counter()
from tlstudio.settings.project import Project
from tlstudio.train import EpochEnd, RecordingObserver, Trainer
data, size, backbone, epochs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
project = Project().copy_with(**{"data.folder": data, "model.backbone": backbone, "model.image_size": size,
                                 "model.weights": "imagenet", "training.epochs": epochs, "training.batch_size": 32,
                                 "optimizer.learning_rate": 1e-3, "schedule.name": "constant"})
work = time.perf_counter()
recorder = RecordingObserver()
result = Trainer().run(project, recorder, run_dir=sys.argv[5])
seconds = time.perf_counter() - work
epochs_done = recorder.of_type(EpochEnd)
print(json.dumps({"status": result.status.value, "work_seconds": seconds,
                  "train_images": result.metrics.get("train_images"), "epochs": len(epochs_done),
                  "val_accuracy": epochs_done[-1].val_accuracy if epochs_done else None,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def make_dataset(root: Path, images: int) -> Path:
    from tlstudio.data.demo import make_demo_dataset

    folder = root / f"shapes-{images}"
    if not folder.is_dir():
        make_demo_dataset(folder, classes=("circle", "square", "triangle", "star", "cross"),
                          per_class=images // 5, size=256, seed=0)
    return folder


def run_size(images: int, args) -> dict:
    data = make_dataset(args.data, images)
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as runs:
        env["TLSTUDIO_CACHE_DIR"] = cache
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, str(data), str(args.image_size), args.backbone,
                               str(args.epochs), f"{runs}/run"], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{images} images failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(images=images, wall_seconds=wall,
                  images_per_second=(result["train_images"] or 0) * result["epochs"] / result["work_seconds"])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--backbone", default="squeezenet1_1")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "tlstudio-bench-scale")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()
    rows = []
    print(f"{args.backbone} {args.image_size} px, frozen, {args.epochs} epochs, cold caches")
    print("| images | status | wall s | images/s | peak MB | val acc |")
    print("|---|---|---|---|---|---|")
    for images in (int(n) for n in args.sizes.split(",")):
        row = run_size(images, args)
        rows.append(row)
        print(f"| {images:,} | {row['status']} | {row['wall_seconds']:.1f} | {row['images_per_second']:.0f} | "
              f"{row['peak_rss_mb']:.0f} | {row['val_accuracy']:.3f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
