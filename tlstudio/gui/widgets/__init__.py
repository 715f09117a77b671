"""Widgets used across pages: form helpers, plots, the confusion matrix, galleries, thumbnails."""
