"""The report's networks. Every model says what it learns (`target`), how it is scored in its own
units (`loss`) and how its output becomes raw ab (`predict_ab`), so one engine trains them all."""
import torch
import torch.nn.functional as F
from torch import nn

from .color import AB_SCALE

PRESETS = {1: (3, 3, 3, 3, 3), 2: (8, 16, 32, 64, 128), 3: (16, 32, 64, 128, 256)}


class MeanChromaRegressor(nn.Module):
    """Predicts an image's mean a and mean b from L: 7 stride-2 convolutions, 3 maps each."""

    target = "mean_ab"

    def __init__(self, width=3, layers=7):
        super().__init__()
        self.config = {"width": width, "layers": layers}
        blocks, channels = [], 1
        for i in range(layers):
            out = 2 if i == layers - 1 else width
            blocks.append(nn.Conv2d(channels, out, 3, stride=2, padding=1))
            if i < layers - 1:
                blocks.append(nn.LeakyReLU())
            channels = out
        self.net = nn.Sequential(*blocks)

    def forward(self, L):
        return self.net(L).mean(dim=(2, 3))

    def loss(self, output, target):
        return F.mse_loss(output, target)

    def predict_ab(self, output, size=None):
        """The mean chroma, spread over the picture when a size is given."""
        return output if size is None else output[:, :, None, None].expand(-1, -1, *size)


def down(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU())


def up(cin, cout, last=False):
    conv = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
    return conv if last else nn.Sequential(conv, nn.BatchNorm2d(cout), nn.LeakyReLU())


class Colorizer(nn.Module):
    """L -> ab per pixel: 5 stride-2 conv modules down, 5 transposed-conv modules back up."""

    target = "ab"

    def __init__(self, features=PRESETS[3], tanh=False):
        super().__init__()
        features = list(features)
        self.config = {"features": features, "tanh": tanh}
        self.tanh = tanh
        ins = [1, *features[:-1]]
        self.down = nn.Sequential(*(down(i, o) for i, o in zip(ins, features)))
        outs = [*reversed(features[:-1]), 2]
        self.up = nn.Sequential(*(up(i, o, last=k == len(outs) - 1)
                                  for k, (i, o) in enumerate(zip(reversed(features), outs))))

    @property
    def scale(self):
        return AB_SCALE if self.tanh else 1.0

    def forward(self, L):
        out = self.up(self.down(L))
        return torch.tanh(out) if self.tanh else out

    def loss(self, output, target):
        return F.mse_loss(output, target / self.scale)

    def predict_ab(self, output, size=None):
        ab = output.float() * self.scale
        return ab if size is None or ab.shape[-2:] == tuple(size) else F.interpolate(
            ab, size=size, mode="bilinear", align_corners=False)


MODELS = {"regressor": MeanChromaRegressor, "colorizer": Colorizer}


def build(name, config):
    return MODELS[name](**config)


def model_name(model):
    return next(k for k, v in MODELS.items() if type(model) is v)
