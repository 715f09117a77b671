"""The training process the desktop app starts for each run, and the versioned messages it sends."""
