"""bfloat16 against float32 on the same fine-tuning run: validation accuracy and time, over several seeds.

    python benchmarks/precision.py [--case 3] [--seeds 1,2,3]

Runs benchmark case 3 (SqueezeNet 1.1 with its top 12 layers training, 3 epochs, ImageNet weights) through
tlstudio's Trainer with `training.mixed_precision` off and bfloat16, each seed in a fresh process, and
prints each run's validation accuracy and fit time. bfloat16 needs a CPU with AVX512_BF16 or AMX (or a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CHILD = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
from tlstudio_case import project_for
from tlstudio.train import EpochEnd, RecordingObserver, Trainer
case, data, precision, seed = int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
freeze, out = sys.argv[6], sys.argv[7]
project = project_for(case, data, "imagenet", int(freeze) if freeze != "-" else None).copy_with(
    **{"training.mixed_precision": precision, "training.seed": seed})
recorder = RecordingObserver()
result = Trainer().run(project, recorder, run_dir=out)
epochs = recorder.of_type(EpochEnd)
print(json.dumps({"status": result.status.value, "val_accuracy": epochs[-1].val_accuracy,
                  "fit_seconds": sum(e.seconds for e in epochs), "device": result.metrics.get("device")}))
'''


def main() -> int:
    from run import make_dataset
    from tlstudio_case import frozen_layers_for

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", type=int, default=3)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "tlstudio-bench-shapes")
    args = parser.parse_args()
    data = make_dataset(args.data)
    freeze = frozen_layers_for(args.case)
    results: dict[str, list[dict]] = {"off": [], "bfloat16": []}
    print("| seed | precision | val acc | fit s |")
    print("|---|---|---|---|")
    for seed in (int(s) for s in args.seeds.split(",")):
        for precision in results:
            with tempfile.TemporaryDirectory() as work:
                env = dict(os.environ, TLSTUDIO_CACHE_DIR=f"{work}/cache", TF_CPP_MIN_LOG_LEVEL="3")
                done = subprocess.run([sys.executable, "-c", CHILD, str(HERE), str(args.case), str(data), precision,
                                       str(seed), str(freeze) if freeze is not None else "-", f"{work}/run"],
                                      capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-3000:])
            row = json.loads(done.stdout.strip().splitlines()[-1])
            results[precision].append(row)
            print(f"| {seed} | {precision} | {row['val_accuracy']:.3f} | {row['fit_seconds']:.1f} |", flush=True)
    for precision, rows in results.items():
        print(f"{precision}: mean val acc {statistics.mean(r['val_accuracy'] for r in rows):.3f}, "
              f"mean fit {statistics.mean(r['fit_seconds'] for r in rows):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
