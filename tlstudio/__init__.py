"""TL Studio: point-and-click transfer learning for small image datasets."""

__version__ = "0.1.0"
