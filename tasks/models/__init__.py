"""Classifiers built from config: ``Model(in_shape, num_classes, **params)``.

Each class states ``spatial_dims`` (1 for signals, 2 for images, ``None`` for
any), so a senseless model x data pair is caught from config alone, before any
data is loaded (see :func:`tasks.checks.check_model_fits_data`).
"""

from tasks.models.cnn1d import CNN1d
from tasks.models.lenet import LeNet5
from tasks.models.mlp import MLP
from tasks.models.resnet import CifarResNet
from tasks.models.wrn import WideResNet

__all__ = ["CNN1d", "CifarResNet", "LeNet5", "MLP", "WideResNet"]
