"""Backbones TL Studio builds itself, for ImageNet weights that come from registry packages."""
