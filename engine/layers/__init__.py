"""Layers: each a small class with ``forward(x, training)``, ``backward(dout)`` and params/grads."""

from __future__ import annotations

from engine.layers.activations import GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from engine.layers.base import Layer
from engine.layers.conv import Conv2D
from engine.layers.dense import Dense
from engine.layers.dropout import Dropout
from engine.layers.norm import BatchNorm
from engine.layers.pool import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from engine.layers.reshape import Flatten
from engine.layers.scale import Scale
from engine.layers.whitening import PatchWhitening

__all__ = [
    "GELU",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "PatchWhitening",
    "ReLU",
    "Scale",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
