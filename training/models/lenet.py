from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from training.models._util import flat_features


class LeNet5(nn.Module):
    """LeNet-5 (ReLU, max-pool). Both convolutions are padded so that inputs as
    small as 8x8 (scikit-learn digits) still fit; the head size follows the input."""

    spatial_dims = 2

    def __init__(self, in_shape: Sequence[int], num_classes: int, dropout: float) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_shape[0], 6, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Linear(flat_features(self.features, in_shape), 120),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
