"""What the run computes on, in words a user reads ("NVIDIA H200", "CPU (8 cores)")."""

from __future__ import annotations

import os


def describe_device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = []
        for gpu in gpus:
            try:
                names.append(tf.config.experimental.get_device_details(gpu).get("device_name") or gpu.name)
            except (ValueError, RuntimeError):
                names.append(gpu.name)
        return names[0] if len(names) == 1 else f"{len(names)} GPUs: {', '.join(names)}"
    return f"CPU ({os.cpu_count() or 1} cores)"


def tensorflow_gpu_capability() -> tuple[int, int] | None:
    """The first GPU's CUDA compute capability as TensorFlow reports it (None without a GPU)."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        except (ValueError, RuntimeError):
            capability = None
        if capability:
            return tuple(capability)
    return None
