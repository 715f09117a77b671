"""Training: the Trainer, its events and the run folder. Importing this does not import TensorFlow."""

from tlstudio.train.events import (
    BatchEnd,
    EpochEnd,
    Observer,
    PhaseBegin,
    PrepareProgress,
    RecordingObserver,
    RunResult,
    RunStatus,
    StopToken,
    TrainBegin,
    TrainEnd,
)
from tlstudio.train.trainer import Trainer

__all__ = [
    "BatchEnd", "EpochEnd", "Observer", "PhaseBegin", "PrepareProgress", "RecordingObserver", "RunResult",
    "RunStatus", "StopToken", "TrainBegin", "TrainEnd", "Trainer",
]
