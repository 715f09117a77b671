"""The phases a run trains, planned once: the trainer follows this plan and the Training page's LR
preview draws it, so the preview is the run's plan.

Phase 1 trains the head (or, without fine-tuning, the model as frozen); phase 2, with fine-tuning on,
unfreezes the top backbone layers and trains at the base LR times `fine_tune.lr_factor`. Light: no Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlstudio.data.split import steps_per_epoch as count_steps
from tlstudio.model.optimizers import is_full_batch
from tlstudio.settings.project import Project


@dataclass(frozen=True)
class PhasePlan:
    number: int  # 1 = head (or the only phase), 2 = fine-tuning
    first_epoch: int  # 0-based, as Keras's initial_epoch
    end_epoch: int  # exclusive
    base_lr: float
    description: str
    schedule_steps: int  # optimizer steps the phase's LR schedule spans (its length as first planned)

    def steps_before(self, steps_per_epoch: int) -> int:
        """Optimizer steps of the run before this phase's first: the earlier phases' epochs as planned."""
        return self.first_epoch * steps_per_epoch


def run_steps_per_epoch(project: Project, train_images: int) -> int:
    """Optimizer steps in one epoch: one per batch, the last partial batch included; a full-batch optimizer
    (L-BFGS) takes one step an iteration, and an iteration is what its epoch counts."""
    if is_full_batch(project.optimizer.name):
        return 1
    return count_steps(train_images, project.training.batch_size)


def plan_phases(project: Project, steps_per_epoch: int) -> list[PhasePlan]:
    """The run's phases, in order, each with its epochs, base LR, description and schedule length."""
    training = project.training
    fine_tune = training.fine_tune
    lr = project.optimizer.learning_rate
    phases = [PhasePlan(1, 0, training.epochs, lr,
                        "training the head, backbone frozen" if fine_tune.enabled else "training",
                        training.epochs * steps_per_epoch)]
    if fine_tune.enabled:
        phases.append(PhasePlan(2, training.epochs, training.epochs + fine_tune.epochs, lr * fine_tune.lr_factor,
                                f"fine-tuning the top {fine_tune.unfreeze} backbone layers",
                                fine_tune.epochs * steps_per_epoch))
    return phases
