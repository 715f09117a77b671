"""TL Studio's shipped files: the SqueezeNet 1.1 weights with their licence, the app icon (SVG source and
PNG renders) and the desktop launcher. The build installs this folder as the package `tlstudio.resources`
(setup.py), so `tlstudio.base.resources.resource_path` finds it installed, editable or frozen."""
