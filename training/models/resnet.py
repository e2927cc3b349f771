from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from training.models._util import he_init_convs, three_stages


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        # projection shortcut (He et al. option B) where the shape changes
        self.shortcut = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet(nn.Module):
    """CIFAR-style ResNet (He et al. 2016, sec. 4.2): depth ``6n+2``, widths 16/32/64."""

    spatial_dims = 2

    def __init__(
        self, in_shape: Sequence[int], num_classes: int, depth: int, width: int = 16
    ) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"model.depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}.")
        n = (depth - 2) // 6
        layers: list[nn.Module] = [
            nn.Conv2d(in_shape[0], width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        layers += three_stages(BasicBlock, width, [width, 2 * width, 4 * width], n)
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * width, num_classes)
        he_init_convs(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
