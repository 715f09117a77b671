"""The kinds of phase a run trains, each a strategy: what to fit (the model that trains, its training and
validation inputs, the images in each batch) and how (Keras's fit or L-BFGS). A Keras module (through
the input builder and the fits; light modules import it inside functions).

- `ImagePhase`: the images through the whole model, augmented in a training wrapper when augmentation is
  on; with the backbone frozen and no cached augmented copies, validated on cached validation features;
- `FeatureHeadPhase`: the backbone frozen, the head alone on its cached features (seconds an epoch);
- `FullBatchPhase`: the head on cached features, fitted full-batch by L-BFGS.

`phase_strategy` picks one for a phase of a project; the trainer runs them in the plan's order, and the LR
range test asks for the first phase's inputs the same way.
"""

from __future__ import annotations

from typing import Any, Protocol

from tlstudio.model.optimizers import is_full_batch
from tlstudio.model.phase_plan import PhasePlan
from tlstudio.settings.project import Project
from tlstudio.train.features import feature_cache_decision, validation_cache_decision
from tlstudio.train.fitting import Session, fit_full_batch, fit_with_keras
from tlstudio.train.inputs import FitInputs, InputBuilder


class PhaseError(Exception):
    """The phase cannot train as set up; the message is one sentence naming the fix."""


class PhaseStrategy(Protocol):
    """One kind of phase: what it fits and how."""

    feature_cache: bool  # whether the head trains on cached backbone features
    cache_note: str  # why (or why not), for the log and the GUI

    def inputs(self, validation: bool = True) -> FitInputs:
        """The model that trains and its inputs; `validation` False (the LR range test) skips what only
        validation needs."""

    def fit(self, inputs: FitInputs, session: Session, phase: PhasePlan) -> None:
        """Train `inputs.model` over the phase's epochs, reporting through the session's callbacks."""


class ImagePhase:
    """Images through the whole model (augmented in a training wrapper when augmentation is on)."""

    feature_cache = False

    def __init__(self, builder: InputBuilder, cache_note: str, validate_on_features: bool) -> None:
        self.builder, self.cache_note, self.validate_on_features = builder, cache_note, validate_on_features

    def inputs(self, validation: bool = True) -> FitInputs:
        """What to fit; with `validation` False (the LR range test) nothing is prepared for validation."""
        inputs = self.builder.images()
        if validation and self.validate_on_features:
            cached = self.builder.validation_features()
            inputs.validation = None  # validated on the cached features instead, by FeatureValidation
            inputs.cached_validation = cached
            inputs.feature_validation = (cached.head, self.builder.validation_stream(cached))
        return inputs

    def fit(self, inputs: FitInputs, session: Session, phase: PhasePlan) -> None:
        fit_with_keras(inputs, session, phase)


class FeatureHeadPhase:
    """The head alone on the frozen backbone's cached features, with Keras's fit."""

    feature_cache = True

    def __init__(self, builder: InputBuilder, cache_note: str, store_key: str | None) -> None:
        self.builder, self.cache_note, self.store_key = builder, cache_note, store_key

    def inputs(self, validation: bool = True) -> FitInputs:
        """What to fit; the validation features come with the training ones (one backbone pass)."""
        builder = self.builder
        return builder.feature_datasets(*builder.cached_features(self.store_key))

    def fit(self, inputs: FitInputs, session: Session, phase: PhasePlan) -> None:
        fit_with_keras(inputs, session, phase)


class FullBatchPhase:
    """The head on cached features, fitted full-batch by L-BFGS: each iteration an epoch of one step."""

    feature_cache = True

    def __init__(self, builder: InputBuilder, cache_note: str, store_key: str | None) -> None:
        self.builder, self.cache_note, self.store_key = builder, cache_note, store_key

    def inputs(self, validation: bool = True) -> FitInputs:
        """What to fit: the features as arrays, each iteration going over all of them."""
        head, features, labels, cached = self.builder.cached_features(self.store_key)
        count = len(features)
        return FitInputs(head, (features, labels), None, lambda batch: count, count, cached)

    def fit(self, inputs: FitInputs, session: Session, phase: PhasePlan) -> None:
        fit_full_batch(inputs, session, phase)



def phase_strategy(project: Project, builder: InputBuilder, backbone: Any, phase: int,
                   replicas: int = 1) -> PhaseStrategy:
    """The strategy for phase `phase` (1 or 2) of `project`, its backbone frozen or not as it is now."""
    use_cache, note = feature_cache_decision(project, backbone, phase)
    store_key = None
    if use_cache:
        store_key = builder.store_key()
        if store_key is not None and builder.feature_store.has(store_key):
            note += "; read from disk, as an earlier run on the same data computed them"
    if is_full_batch(project.optimizer.name):
        if not use_cache:
            raise PhaseError(f"L-BFGS fits the head on cached backbone features, which are not in use ({note}); "
                             "choose another optimizer.")
        return FullBatchPhase(builder, note, store_key)
    if use_cache:
        return FeatureHeadPhase(builder, note, store_key)
    validate_on_features = (replicas == 1 and not project.optimizer.ema
                            and validation_cache_decision(project, backbone, phase))
    return ImagePhase(builder, note, validate_on_features)
