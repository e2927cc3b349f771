from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from training.models._util import he_init_convs, three_stages


class PreActBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=False)
        self.shortcut = (
            nn.Conv2d(c_in, c_out, 1, stride, bias=False) if stride != 1 or c_in != c_out else None
        )

    def forward(self, x: Tensor) -> Tensor:
        o = self.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(o)
        o = self.conv1(o)
        o = self.conv2(self.drop(self.relu(self.bn2(o))))
        return o + skip


class WideResNet(nn.Module):
    """WRN-d-k (Zagoruyko & Komodakis 2016): depth ``6n+4``, widths 16k/32k/64k, dropout in blocks."""

    spatial_dims = 2

    def __init__(
        self,
        in_shape: Sequence[int],
        num_classes: int,
        depth: int,
        widen_factor: int,
        dropout: float,
    ) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"model.depth must be 6n+4 (16, 22, 28, 40, ...), got {depth}.")
        n = (depth - 4) // 6
        widths = [16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        layers: list[nn.Module] = [nn.Conv2d(in_shape[0], 16, 3, 1, 1, bias=False)]
        layers += three_stages(
            lambda c_in, c_out, stride: PreActBlock(c_in, c_out, stride, dropout), 16, widths, n
        )
        c = widths[-1]
        self.features = nn.Sequential(
            *layers, nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.head = nn.Linear(c, num_classes)
        he_init_convs(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
