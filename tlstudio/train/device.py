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
