"""Pretrained backbones: the one table of them (registry), where their ImageNet weights come from
(weight_sources), loading weights into a built backbone (weights), their own input preprocessing, and the
backbones TL Studio implements itself (zoo: SqueezeNet 1.1, EfficientNet-Lite0)."""
