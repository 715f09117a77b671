"""How a run computes: GPU memory growth, mixed precision, XLA and determinism, resolved once.

"auto" settings pick what is fast on the device at hand: XLA only on a GPU; 16-bit compute on a
GPU that has it, and bfloat16 on a CPU with AVX512_BF16 or AMX when backbone layers train (measured
1.8x faster training the top of SqueezeNet 1.1 on 2 cores, benchmarks/README.md). A frozen backbone
stays float32 on a CPU: there only the forward pass runs, and bfloat16 made it slower.

TensorFlow's op determinism is off unless asked for: seeded runs already repeat on a
CPU (the tests check it), and the switch made augmented epochs 1.8x slower there (5.7 s against
3.2 s, mobilenet_v2 160 px) and rules out XLA on a GPU.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

from tlstudio.settings.project import TrainingSettings
from tlstudio.train.backend import Accelerator


@dataclass(frozen=True)
class ComputePlan:
    backend: str  # the Keras backend: "tensorflow", "jax" or "torch"
    device: str
    gpu: bool
    mixed_precision: str  # "off", "float16" or "bfloat16"
    jit_compile: bool | str  # Keras's compile() argument
    deterministic: bool

    def describe(self) -> str:
        parts = [f"backend {self.backend} on {self.device}"]
        if self.mixed_precision != "off":
            parts.append(f"mixed {self.mixed_precision}")
        if self.jit_compile is True:
            parts.append("XLA")
        if self.deterministic:
            parts.append("deterministic")
        return ", ".join(parts)


@functools.cache
def configure_gpus() -> tuple[str, ...]:
    """Once per process, before any GPU is used: grow GPU memory as needed instead of taking it all."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # the GPU was initialised already; growth is fixed then
            pass
    return tuple(gpu.name for gpu in gpus)


@functools.cache
def cpu_has_bfloat16() -> bool:
    """True when the CPU computes bfloat16 natively (x86 AVX512_BF16 or AMX-BF16; read on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def plan_compute(training: TrainingSettings, accelerator: Accelerator, backbone_trains: bool = False) -> ComputePlan:
    """`accelerator`: the backend and device the run computes on (train/backend.py). `backbone_trains`: some
    backbone layers train from the first step (so the whole model runs forward and backward every step, where
    bfloat16 pays on a CPU)."""
    if accelerator.backend == "tensorflow":
        configure_gpus()
    gpu = accelerator.gpu
    precision = training.mixed_precision
    if precision == "auto":
        capability = accelerator.capability
        if gpu:
            precision = "off" if capability is None or capability < (7, 0) else (
                "bfloat16" if capability >= (8, 0) else "float16")
        else:
            precision = "bfloat16" if backbone_trains and cpu_has_bfloat16() else "off"
    elif not gpu and not (precision == "bfloat16" and cpu_has_bfloat16()):
        precision = "off"  # float16 on a CPU, or bfloat16 without native support, is slower, not faster
    xla = {"auto": "auto", "on": True, "off": False}[training.xla]
    deterministic = training.deterministic == "on"
    if deterministic and xla == "auto":
        xla = False
    return ComputePlan(accelerator.backend, accelerator.device, gpu, precision, xla, deterministic)


def apply_determinism(plan: ComputePlan) -> None:
    """TensorFlow's op determinism on or off as planned (other backends refuse "on": train/backend.py)."""
    if plan.backend != "tensorflow":
        return
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    if plan.deterministic and not tf_config.is_op_determinism_enabled():
        tf.config.experimental.enable_op_determinism()
    elif not plan.deterministic and tf_config.is_op_determinism_enabled():
        tf_config.disable_op_determinism()


@contextlib.contextmanager
def precision_policy(plan: ComputePlan):
    """Build layers under the plan's dtype policy, then restore float32 for everything else."""
    import keras

    policy = {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}[plan.mixed_precision]
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
