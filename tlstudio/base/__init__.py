"""The bottom layer: files and atomic writes, the shipped resources, the cache folder, the one
progress-and-cancel object (TaskState) and text formatting. Imports nothing of tlstudio above it."""
