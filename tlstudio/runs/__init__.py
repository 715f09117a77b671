"""The run folder: its file names, writing it as a run goes, reading it back."""
