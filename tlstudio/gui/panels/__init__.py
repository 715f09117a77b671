"""Panels: self-contained groups a page is composed of, each bound to the models it shows."""
