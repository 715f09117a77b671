"""One module per step of the work: Data, Model, Training, Run, Export (plus the start panel)."""
