"""How a run computes: GPU memory growth, mixed precision, XLA and determinism, resolved once.

"auto" settings pick what is fast on a GPU and harmless on a CPU: 16-bit compute and XLA only
on a GPU. TensorFlow's op determinism is off unless asked for: seeded runs already repeat on a
CPU (the tests check it), and the switch made augmented epochs 1.8x slower there (5.7 s against
3.2 s, mobilenet_v2 160 px) and rules out XLA on a GPU.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

from tlstudio.config import TrainingSettings
from tlstudio.train.device import describe_device


@dataclass(frozen=True)
class ComputePlan:
    device: str
    gpu: bool
    mixed_precision: str  # "off", "float16" or "bfloat16"
    jit_compile: bool | str  # Keras's compile() argument
    deterministic: bool

    def describe(self) -> str:
        parts = [self.device]
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


def _compute_capability() -> tuple[int, int] | None:
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        except (ValueError, RuntimeError):
            capability = None
        if capability:
            return tuple(capability)
    return None


def plan_compute(training: TrainingSettings) -> ComputePlan:
    gpu = bool(configure_gpus())
    precision = training.mixed_precision
    if precision == "auto":
        capability = _compute_capability() if gpu else None
        if capability is None or capability < (7, 0):
            precision = "off"
        else:
            precision = "bfloat16" if capability >= (8, 0) else "float16"
    elif not gpu:
        precision = "off"  # 16-bit on a CPU is slower, not faster
    xla = {"auto": "auto", "on": True, "off": False}[training.xla]
    deterministic = training.deterministic == "on"
    if deterministic and xla == "auto":
        xla = False
    return ComputePlan(describe_device(), gpu, precision, xla, deterministic)


def apply_determinism(plan: ComputePlan) -> None:
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
