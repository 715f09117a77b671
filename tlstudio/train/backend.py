"""Which Keras 3 backend a training process runs on (TensorFlow, JAX or PyTorch), and on what device.

Keras picks its backend once, when it is first imported, from the KERAS_BACKEND variable; a `.keras` file
is the same whichever backend wrote it. Training runs in its own process (the app's worker, or `tlstudio
train`), so that process chooses: `activate` sets the variable before Keras loads, and the app keeps
TensorFlow for evaluation, Try it and export. TensorFlow has had no native Windows GPU support since 2.10,
which is why JAX and PyTorch matter: on those machines they are the route to the GPU.

`auto` takes TensorFlow when TensorFlow sees a GPU, else JAX when JAX sees one, else PyTorch when it sees
CUDA or Apple's MPS, else TensorFlow on the CPU. Asking a library for its GPUs means importing it, so
`choose_backend` imports only what it asks. Not a Keras module: nothing here imports Keras.

Features that still need TensorFlow say so in one sentence (`refusal`), naming the backend that has them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass

from tlstudio.model.optimizers import is_full_batch
from tlstudio.settings.project import BACKEND_NAMES, Project

# The package each backend needs, and how to install it (the project's optional extras).
INSTALL_HINTS = {"tensorflow": "pip install tensorflow", "jax": "pip install 'tlstudio[jax]'",
                 "torch": "pip install 'tlstudio[torch]'"}
AUTO_ORDER = ("tensorflow", "jax", "torch")  # the first that sees a GPU; else TensorFlow on the CPU


class BackendError(ValueError):
    """A backend that cannot run here, or a setting it cannot run: one sentence naming the fix."""


@dataclass(frozen=True)
class Accelerator:
    """A backend and the device it computes on, as a user reads it."""

    backend: str
    device: str  # "NVIDIA H200 (cuda:0)", "CPU (2 cores)"
    gpu: bool
    capability: tuple[int, int] | None = None  # CUDA compute capability, when known

    def describe(self) -> str:
        return f"backend {self.backend} on {self.device}"


def installed(backend: str) -> bool:
    """Whether `backend`'s package can be found here (without importing it; a broken one counts as absent)."""
    try:
        return importlib.util.find_spec(backend) is not None
    except (ImportError, ValueError):
        return False


def _cpu() -> str:
    return f"CPU ({os.cpu_count() or 1} cores)"


def _probe_tensorflow() -> Accelerator:
    import tensorflow as tf

    from tlstudio.train.device import describe_device, tensorflow_gpu_capability

    gpu = bool(tf.config.list_physical_devices("GPU"))
    return Accelerator("tensorflow", describe_device(), gpu, tensorflow_gpu_capability() if gpu else None)


def _probe_jax() -> Accelerator:
    # Asking for the devices starts JAX's client, which would take 75 % of a GPU's memory at once; grow it as
    # needed instead (as TensorFlow is told to), before the first call.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax

    devices = [device for device in jax.devices() if device.platform != "cpu"]
    if not devices:
        return Accelerator("jax", _cpu(), False)
    first = devices[0]
    capability = None
    text = getattr(first, "compute_capability", None)  # "9.0" on CUDA devices
    if text:
        major, _, minor = str(text).partition(".")
        capability = (int(major), int(minor or 0))
    more = f", {len(devices)} devices" if len(devices) > 1 else ""
    return Accelerator("jax", f"{first.device_kind} ({first.platform}:{first.id}{more})", True, capability)


def _probe_torch() -> Accelerator:
    import torch

    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        more = f", {count} devices" if count > 1 else ""
        return Accelerator("torch", f"{torch.cuda.get_device_name(0)} (cuda:0{more})", True,
                           tuple(torch.cuda.get_device_capability(0)))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return Accelerator("torch", "Apple GPU (mps)", True)
    return Accelerator("torch", _cpu(), False)


PROBES = {"tensorflow": _probe_tensorflow, "jax": _probe_jax, "torch": _probe_torch}


def choose_backend(requested: str) -> Accelerator:
    """The backend `requested` ("auto" or one of BACKEND_NAMES) resolves to here, and its device."""
    if requested not in ("auto", *BACKEND_NAMES):
        raise BackendError(f"training.backend {requested!r} is not a Keras backend; choose auto, "
                           f"{', '.join(BACKEND_NAMES)}.")
    if requested != "auto":
        if not installed(requested):
            raise BackendError(f"training.backend is {requested}, but {requested} is not installed here; install "
                               f"it ({INSTALL_HINTS[requested]}) or choose training.backend auto.")
        return PROBES[requested]()
    probed = []
    for name in AUTO_ORDER:
        if installed(name):
            found = PROBES[name]()
            if found.gpu:
                return found
            probed.append(found)
    if not probed:
        raise BackendError("no Keras backend is installed here; install TensorFlow (pip install tensorflow) or "
                           f"JAX ({INSTALL_HINTS['jax']}).")
    return probed[0]  # on the CPU: TensorFlow where it is installed, else the first backend that is


def loaded_backend() -> str | None:
    """The backend Keras was loaded with in this process, or None before Keras is imported."""
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    return keras.config.backend()


def active_backend() -> str:
    """The backend this process trains with: Keras's own once loaded, else what KERAS_BACKEND will give it."""
    return loaded_backend() or os.environ.get("KERAS_BACKEND", "tensorflow")


def activate(backend: str) -> None:
    """Make Keras load with `backend` in this process (before its first import)."""
    loaded = loaded_backend()
    if loaded is not None and loaded != backend:
        raise BackendError(f"Keras is already loaded with the {loaded} backend in this process, so this run cannot "
                           f"train on {backend}; start it with tlstudio train (or from the app), which choose "
                           "the backend before Keras loads.")
    os.environ["KERAS_BACKEND"] = backend
    if backend == "jax":
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # as in _probe_jax


def refusal(project: Project, backend: str) -> str | None:
    """Why `project` cannot train on `backend`, in one sentence naming the backend that can (None: it can)."""
    if backend == "tensorflow":
        return None
    training = project.training
    needs = []  # (what needs TensorFlow, what to change instead)
    if is_full_batch(project.optimizer.name):
        needs.append(("L-BFGS", "another optimizer"))
    if training.strategy != "auto":
        needs.append((f"the {training.strategy} strategy (tf.distribute)", "training.strategy auto"))
    if training.tensorboard:
        needs.append(("TensorBoard logs", "training.tensorboard off"))
    if training.deterministic == "on":
        needs.append(("op determinism", "training.deterministic auto"))
    if not needs:
        return None
    what = " and ".join(item for item, _ in needs)
    instead = " and ".join(fix for _, fix in needs)
    verb = "needs" if len(needs) == 1 else "need"
    return (f"{what} {verb} the tensorflow backend; choose training.backend tensorflow (--backend tensorflow), "
            f"or {instead} to train on {backend}.")


def keep_tensorflow_off_the_gpu() -> None:
    """When another backend trains in a process that imported TensorFlow (auto asked it for a GPU first),
    TensorFlow must leave the GPU's memory to it."""
    if not installed("tensorflow"):
        return
    try:
        import tensorflow as tf

        tf.config.set_visible_devices([], "GPU")
    except ImportError:  # a TensorFlow that does not import is no TensorFlow to keep off the GPU
        return
    except (RuntimeError, ValueError):  # TensorFlow's devices were initialised already
        pass
