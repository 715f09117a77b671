"""How a run spreads over devices and machines: TensorFlow's own tf.distribute strategies.

- auto: one device, or MirroredStrategy over every GPU when there are several;
- mirrored: MirroredStrategy over `training.devices`, or every local GPU, or (without a GPU) every
  logical CPU device, which `split_cpu` makes (`tlstudio train --cpu-devices N`);
- multi-worker: MultiWorkerMirroredStrategy over the cluster in the TF_CONFIG environment variable.

The trainer builds the model, its optimizer and metrics (and the feature-cache head) inside
`Distribution.scope()`; Keras then splits each global batch across the replicas, sums their
gradients and counts one optimizer step per global batch, so LR schedules count global steps.
A strategy is made once a process (MultiWorkerMirroredStrategy can only be made before TensorFlow
starts its runtime, and only once), so every run of a process shares it. TensorFlow is imported
inside the functions.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from dataclasses import dataclass
from typing import Any

from tlstudio.settings.project import TrainingSettings

TF_CONFIG = "TF_CONFIG"


class DistributionError(Exception):
    """The strategy cannot be set up as asked; the message is one sentence naming the fix."""


@dataclass(frozen=True)
class Distribution:
    """The run's strategy and where this process stands in it."""

    strategy: Any
    kind: str  # "one device", "mirrored" or "multi-worker"
    devices: tuple[str, ...]  # this process's replicas' devices
    replicas: int  # across every worker
    workers: int = 1
    worker: int = 0  # this process's place among the workers
    chief: bool = True  # writes the run folder; other workers write to a temporary folder and log only

    def scope(self):
        # No strategy off TensorFlow: the other backends train on their one default device (train/backend.py).
        return contextlib.nullcontext() if self.strategy is None else self.strategy.scope()

    def describe(self, batch_size: int) -> str:
        """One line for the log, e.g. "mirrored: 2 replicas (CPU:0, CPU:1), global batch 32 = 16 per replica"."""
        replicas = f"{self.replicas} replica{'s' if self.replicas != 1 else ''}"
        if self.replicas == 1:
            return f"{self.kind}: 1 replica ({', '.join(self.devices)}), batch {batch_size}"
        low, extra = divmod(batch_size, self.replicas)
        share = f"{low}" if not extra else f"{low}-{low + 1}"
        where = (f"{self.workers} workers, this is worker {self.worker}{' (the chief)' if self.chief else ''}"
                 if self.kind == "multi-worker" else ", ".join(self.devices))
        return f"{self.kind}: {replicas} ({where}), global batch {batch_size} = {share} per replica"


def split_cpu(count: int) -> None:
    """Make `count` logical CPU devices of the one physical CPU, to try the mirrored strategy without GPUs.
    Must run before TensorFlow starts its runtime (before any model, tensor or device query)."""
    import tensorflow as tf

    if count < 1:
        raise DistributionError(f"--cpu-devices {count}: give at least 1 device.")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        raise DistributionError("the CPU can only be split into logical devices before TensorFlow starts; "
                                "give --cpu-devices to the command that starts the run.") from None


def cluster_config() -> dict:
    """TF_CONFIG, read and checked: {"cluster": {"worker": [host:port, ...], ...}, "task": {"type", "index"}}."""
    text = os.environ.get(TF_CONFIG, "").strip()
    if not text:
        raise DistributionError("the multi-worker strategy needs the cluster in the TF_CONFIG environment variable "
                                "(see the README); set it on every machine, or choose another strategy.")
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        kind, index = str(task["type"]), int(task["index"])
        members = cluster[kind]
    except (ValueError, KeyError, TypeError):
        raise DistributionError('TF_CONFIG is not a cluster description like {"cluster": {"worker": ["host1:port", '
                                '"host2:port"]}, "task": {"type": "worker", "index": 0}}; fix it.') from None
    if not 0 <= index < len(members):
        raise DistributionError(f"TF_CONFIG's task index {index} is not in its cluster's {kind} list of "
                                f"{len(members)}; fix the index.")
    return config


def is_chief(config: dict) -> bool:
    """TensorFlow's rule: the "chief" task, or worker 0 where the cluster has no chief."""
    task, cluster = config["task"], config["cluster"]
    return task["type"] == "chief" or (task["type"] == "worker" and int(task["index"]) == 0 and "chief" not in cluster)


def distribution_for(training: TrainingSettings, backend: str = "tensorflow") -> Distribution:
    """The strategy the settings ask for on this machine (made once a process; DistributionError when it
    cannot be). Off TensorFlow there is none: the run trains on the backend's default device (a strategy
    other than auto is refused there before this, train/backend.py)."""
    if backend != "tensorflow":
        return Distribution(None, "one device", ("default device",), 1)
    devices = tuple(training.devices) if training.strategy == "mirrored" else ()
    return _make(training.strategy, devices)


@functools.cache
def _make(kind: str, devices: tuple[str, ...]) -> Distribution:
    import tensorflow as tf

    if kind == "multi-worker":
        config = cluster_config()
        _mend_keras_fit()
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as error:
            raise DistributionError(f"the multi-worker strategy could not start ({_first_line(error)}); it must "
                                    "be the first thing the process does with TensorFlow.") from None
        local = tuple(_short(name) for name in strategy.extended.worker_devices)
        workers = sum(len(config["cluster"].get(role, [])) for role in ("chief", "worker"))
        task = config["task"]
        place = int(task["index"]) + (1 if task["type"] == "worker" and "chief" in config["cluster"] else 0)
        return Distribution(strategy, "multi-worker", local, strategy.num_replicas_in_sync, workers=workers,
                            worker=place, chief=is_chief(config))
    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    if kind == "auto" and len(gpus) < 2:
        strategy = tf.distribute.get_strategy()  # the default: one device, no scope to speak of
        return Distribution(strategy, "one device", (_short(gpus[0]) if gpus else "CPU:0",), 1)
    if devices:
        present = {_short(device.name) for device in tf.config.list_logical_devices()}
        missing = [device for device in devices if device not in present]
        if missing:
            raise DistributionError(f"training.devices lists {', '.join(missing)}, which this machine does not have "
                                    f"(it has {', '.join(sorted(present))}); fix the list or empty it.")
        chosen = list(devices)
    else:
        chosen = [_short(name) for name in gpus] or [_short(device.name)
                                                    for device in tf.config.list_logical_devices("CPU")]
    _mend_keras_fit()
    strategy = tf.distribute.MirroredStrategy(devices=[f"/{name}" for name in chosen])
    return Distribution(strategy, "mirrored", tuple(chosen), strategy.num_replicas_in_sync)


def distributable(dataset):
    """A dataset that tf.distribute splits by element (each replica its share of every global batch), as
    arrays in memory must be: there are no files to give each worker its own."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _mend_keras_fit() -> None:
    """Keras 3.15's fit() under a tf.distribute strategy, mended (docs/stack-notes.md #21), once a process.

    Before the first step, fit() opens an iterator of the training data to peek at one batch for the
    shapes that build the optimizer and metrics, then opens the iterator it trains from: with a shuffle
    that reshuffles for every iterator, a run under a strategy trained on another order than one device
    does. The mend builds from the dataset's element spec instead (shapes and dtypes, all the build reads).
    Under MultiWorkerMirroredStrategy fit() also averaged each scalar log "along axis 0" across workers,
    which fails; the mend averages the logs whole (the mean of every replica's mean: the global mean).
    Models made outside a strategy's scope take Keras's own path, untouched."""
    import tensorflow as tf

    try:  # Keras's private modules: a Keras that has moved them gets no mend (and may not need one)
        from keras.src import tree
        from keras.src.backend.tensorflow import trainer

        reduce_per_replica = trainer.reduce_per_replica
        trainer.TensorFlowTrainer._symbolic_build  # noqa: B018 - the mend calls it
    except (ImportError, AttributeError):
        return
    if getattr(trainer, "_tlstudio_mended", False):
        return
    multi_worker = tf.distribute.MultiWorkerMirroredStrategy

    def mended_reduce(values, strategy, reduction):
        if isinstance(strategy, multi_worker) and reduction in ("auto", "mean"):
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return reduce_per_replica(values, strategy, reduction)

    def mended_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return  # Keras builds when it traces the step, as it does without a strategy
        if data_batch is None and iterator is not None:
            data_batch = iterator.data_adapter.get_tf_dataset().element_spec
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = mended_reduce
    trainer.TensorFlowTrainer._maybe_symbolic_build = mended_build
    trainer._tlstudio_mended = True


def _short(name: str) -> str:
    """ "/job:localhost/replica:0/task:0/device:GPU:1" -> "GPU:1"."""
    return name.rsplit("device:", 1)[-1].upper()


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
