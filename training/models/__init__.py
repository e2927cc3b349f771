"""Classifiers built from config: ``Model(in_shape, num_classes, **params)``.

Each class states ``spatial_dims`` (1 for signals, 2 for images, ``None`` for
any), so a senseless model x data pair is caught from config alone, before any
data is loaded (see :func:`training.checks.check_model_fits_data`).
"""

from training.models.cnn1d import CNN1d
from training.models.lenet import LeNet5
from training.models.mlp import MLP
from training.models.resnet import CifarResNet
from training.models.wrn import WideResNet

__all__ = ["CNN1d", "CifarResNet", "LeNet5", "MLP", "WideResNet"]
