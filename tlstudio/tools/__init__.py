"""Tools that use a project or a run: evaluate, calibrate, ensemble, dataset health, the LR range test, the
optimizer race, Grad-CAM. Each stands alone: no tool imports another (an import-linter contract)."""
