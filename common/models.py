"""The report's networks behind one stated contract, `ColourModel`: what a model learns, its loss in its own
units, how its output becomes raw ab, and its settings, so one engine trains them all and every caller (the
evaluation, the one road, the page) asks the model instead of probing it."""
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .color import AB_SCALE, ab_bins, annealed_mean, neighbour_table, rebalance_weights, soft_encode

PRESETS = {1: (3, 3, 3, 3, 3), 2: (8, 16, 32, 64, 128), 3: (16, 32, 64, 128, 256)}


def at_size(ab, size):
    """ab (N,2,h,w) upsampled (bilinear) to `size`, or as it is when `size` is None or already its size."""
    return ab if size is None or ab.shape[-2:] == tuple(size) else F.interpolate(
        ab, size=size, mode="bilinear", align_corners=False)


def preset(features):
    """The report's network (1, 2 or 3) with these feature maps, or None for any other."""
    return next((net for net, maps in PRESETS.items() if list(maps) == list(features)), None)


class ColourModel(nn.Module):
    """What every model offers:

    - `name`: its name in checkpoints; `settings`: its constructor's arguments (a dataclass), and `config` the
      same as the plain dict a checkpoint holds;
    - `target`: what `loss(output, target)` compares the output with, "ab" per pixel or "mean_ab" per picture,
      in the units `units` names;
    - `predict_ab(output, size, temperature)`: raw ab (N,2,h,w) from the output, at `size` when given; the
      temperature matters only to a model with bins (None: its own);
    - `takes_hints`: its input holds colour hints beside L (`hints.network_input`);
    - `mirror`: in evaluation its output is the mean of the network's outputs for the picture and for its mirror
      image (flipped back), see `forward`; a per-pixel model's decoding choice, like a temperature;
    - `has_bins`: it predicts a distribution over ab bins (`centres`), so `entropy(output)` and a decoding
      temperature mean something;
    - `learns_prior`: `set_prior(ab_chunks)` must see the training set's ab before training.
    """

    name = ""
    target = "ab"
    takes_hints = False
    mirror = False
    has_bins = False
    learns_prior = False

    def __init__(self, settings):
        super().__init__()
        self.settings = settings

    def forward(self, x):
        """Training sees the network alone. In evaluation a mirroring model averages two passes: a face does not
        change with the way it faces, so the mean keeps what both agree on and cancels part of each one's error."""
        if self.training or not self.mirror:
            return self.network(x)
        return (self.network(x) + self.network(x.flip(-1)).flip(-1)) / 2

    def network(self, x):
        raise NotImplementedError

    @property
    def config(self):
        return asdict(self.settings)

    @property
    def units(self):
        raise NotImplementedError

    def loss(self, output, target):
        raise NotImplementedError

    def predict_ab(self, output, size=None, temperature=None):
        raise NotImplementedError

    def entropy(self, output):
        raise TypeError(f"a {self.name} has no bins, so no entropy")

    def set_prior(self, ab_chunks):
        raise TypeError(f"a {self.name} learns no prior")


@dataclass
class RegressorSettings:
    width: int = 3
    layers: int = 7


@dataclass
class ColorizerSettings:
    features: list = field(default_factory=lambda: list(PRESETS[3]))
    tanh: bool = False
    unet: bool = False
    hints: bool = False
    mirror: bool = False


@dataclass
class ClassifierSettings:
    features: list = field(default_factory=lambda: list(PRESETS[3]))
    head_stride: int = 4
    grid: int = 10
    sigma: float = 5.0
    rebalance_lambda: float = 0.5
    temperature: float = 0.38
    unet: bool = False
    hints: bool = False
    mirror: bool = False


class MeanChromaRegressor(ColourModel):
    """Predicts an image's mean a and mean b from L: 7 stride-2 convolutions, 3 maps each."""

    name = "regressor"
    target = "mean_ab"
    units = "mean ab MSE (raw ab units)"

    def __init__(self, width=3, layers=7):
        super().__init__(RegressorSettings(width, layers))
        # (1) x 128 x 128 -> (width) x 64 x 64 -> ... -> (width) x 2 x 2 -> (2) x 1 x 1, averaged to (2)
        blocks, channels = [], 1
        for i in range(layers):
            out = 2 if i == layers - 1 else width
            blocks.append(nn.Conv2d(channels, out, 3, stride=2, padding=1))
            if i < layers - 1:
                blocks.append(nn.LeakyReLU())
            channels = out
        self.net = nn.Sequential(*blocks)

    def network(self, L):
        return self.net(L).mean(dim=(2, 3))

    def loss(self, output, target):
        return F.mse_loss(output, target)

    def predict_ab(self, output, size=None, temperature=None):
        """The mean chroma, spread over the picture when a size is given."""
        return output if size is None else output[:, :, None, None].expand(-1, -1, *size)


def down(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU())


def encoder(features, inputs=1):
    """The report's 5 downsampling modules, from L (and hints) to features[-1] maps at 1/32 of the size:
    (c) x 128 x 128 -> (f[0]) x 64 x 64 -> (f[1]) x 32 x 32 -> (f[2]) x 16 x 16 -> (f[3]) x 8 x 8 -> (f[4]) x 4 x 4."""
    return nn.Sequential(*(down(i, o) for i, o in zip([inputs, *features[:-1]], features)))


def inputs(hints):
    """Input channels: L / L_SCALE, and for a hint model also the hints' ab / AB_SCALE and their mask."""
    return 4 if hints else 1


def up(cin, cout, last=False):
    conv = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
    return conv if last else nn.Sequential(conv, nn.BatchNorm2d(cout), nn.LeakyReLU())


class UNet(nn.Module):
    """The report's stride-2 modules with skip connections: each up module's output is concatenated with the
    encoder map of its size, and at full resolution with the input itself, so what enters at a pixel (a
    colour hint) can come out at that pixel. The report's networks squeeze the picture to 4x4 and cannot.

    With `stride` > 1 the way up stops at 1/stride of the input and a 1x1 convolution gives the outputs.
    """

    def __init__(self, features, inputs, outputs, stride=1):
        super().__init__()
        # input is (c) x 128 x 128; f = features, (16, 32, 64, 128, 256) for Network 3
        self.down = encoder(features, inputs)
        # state sizes. (f[0]) x 64 x 64, (f[1]) x 32 x 32, ..., (f[4]) x 4 x 4, each kept for the way up
        skips = [inputs, *features[:-1]]  # channels of the map each up module's output is concatenated with
        levels = len(features) - (stride.bit_length() - 1)
        ups, channels = [], features[-1]
        for k in range(levels):
            skip = skips[-1 - k]
            width = skip if k < len(features) - 1 else features[0]
            ups.append(up(channels, width))
            channels = width + skip
            # state size. (2 f[3]) x 8 x 8 -> (2 f[2]) x 16 x 16 -> (2 f[1]) x 32 x 32 -> (2 f[0]) x 64 x 64
            #   -> (f[0] + c) x 128 x 128
        self.up = nn.ModuleList(ups)
        self.head = nn.Conv2d(channels, outputs, 3 if stride == 1 else 1, padding=1 if stride == 1 else 0)
        # output (outputs) x 128/stride x 128/stride

    def forward(self, x):
        maps = [x]
        for module in self.down:
            maps.append(module(maps[-1]))
        x = maps.pop()
        for module in self.up:
            x = torch.cat([module(x), maps.pop()], dim=1)
        return self.head(x)


class Colorizer(ColourModel):
    """L -> ab per pixel: 5 stride-2 conv modules down, 5 transposed-conv modules back up; or a U-Net on the
    same modules (`unet`). With `hints` the network also sees the user's colour hints."""

    name = "colorizer"

    def __init__(self, features=PRESETS[3], tanh=False, unet=False, hints=False, mirror=False):
        super().__init__(ColorizerSettings(list(features), tanh, unet, hints, mirror))
        features = self.settings.features
        if unet:
            self.body = UNet(features, inputs(hints), 2)
            return
        # input is (c) x 128 x 128: L / L_SCALE (c = 1), and hints (c = 4); f = features, (16, ..., 256) for Network 3
        self.down = encoder(features, inputs(hints))
        # state size. (f[4]) x 4 x 4
        widths = [*reversed(features), 2]
        ups = []
        for k in range(len(features)):
            ups.append(up(widths[k], widths[k + 1], last=k == len(features) - 1))
            # state size. (f[3]) x 8 x 8 -> (f[2]) x 16 x 16 -> (f[1]) x 32 x 32 -> (f[0]) x 64 x 64
        self.up = nn.Sequential(*ups)
        # output (2) x 128 x 128: raw ab, or ab / AB_SCALE through tanh

    @property
    def takes_hints(self):
        return self.settings.hints

    @property
    def mirror(self):
        return self.settings.mirror

    @property
    def units(self):
        return "ab/128 MSE" if self.settings.tanh else "ab MSE (raw ab units)"

    @property
    def scale(self):
        return AB_SCALE if self.settings.tanh else 1.0

    def network(self, x):
        out = self.body(x) if self.settings.unet else self.up(self.down(x))
        return torch.tanh(out) if self.settings.tanh else out

    def loss(self, output, target):
        return F.mse_loss(output, target / self.scale)

    def predict_ab(self, output, size=None, temperature=None):
        return at_size(output.float() * self.scale, size)


class Classifier(ColourModel):
    """Colour as classification (Zhang, Isola & Efros 2016): per-pixel logits over Q in-gamut ab bins,
    trained with a rebalanced soft cross-entropy and decoded by the annealed mean.

    The report's encoder, then up-modules back to 1/`head_stride` of the input and a 1x1 conv to Q
    logits; the decoded ab is upsampled (bilinear) to the picture's size.
    """

    name = "classifier"
    units = "rebalanced soft cross-entropy"
    has_bins = True
    learns_prior = True

    def __init__(self, features=PRESETS[3], head_stride=4, grid=10, sigma=5.0, rebalance_lambda=0.5,
                 temperature=0.38, unet=False, hints=False, mirror=False):
        super().__init__(ClassifierSettings(list(features), head_stride, grid, sigma, rebalance_lambda, temperature,
                                            unet, hints, mirror))
        features = self.settings.features
        centres = torch.tensor(ab_bins(grid), dtype=torch.float32)
        self.register_buffer("centres", centres)
        self.register_buffer("weights", torch.ones(len(centres)))
        self.register_buffer("prior", torch.full((len(centres),), 1.0 / len(centres)))
        self.register_buffer("table", neighbour_table(centres), persistent=False)
        if unet:
            self.body = UNet(features, inputs(hints), len(centres), head_stride)
            return
        # input is (c) x 128 x 128: L / L_SCALE (c = 1), and hints (c = 4); f = features, (16, ..., 256) for Network 3
        self.down = encoder(features, inputs(hints))
        # state size. (f[4]) x 4 x 4
        widths = list(reversed(features))
        ups = []
        for k in range(len(features) - (head_stride.bit_length() - 1)):
            ups.append(up(widths[k], widths[k + 1]))
            # state size. (f[3]) x 8 x 8 -> (f[2]) x 16 x 16 -> (f[1]) x 32 x 32 for head_stride 4
        self.up = nn.Sequential(*ups)
        self.head = nn.Conv2d(widths[len(ups)], len(centres), 1)
        # output (Q) x 32 x 32: logits over the Q = 228 in-gamut bins at grid 10

    @property
    def takes_hints(self):
        return self.settings.hints

    @property
    def mirror(self):
        return self.settings.mirror

    @property
    def bins(self):
        return len(self.centres)

    def network(self, x):
        return self.body(x) if self.settings.unet else self.head(self.up(self.down(x)))

    @torch.no_grad()
    def set_prior(self, ab_chunks):
        """Class weights from the training set's ab, given in chunks (n,2,H,W): its bin histogram, smoothed and
        mixed."""
        counts = torch.zeros(self.bins)
        for chunk in ab_chunks:
            counts += torch.bincount(self.nearest(chunk).flatten(), minlength=self.bins).to(counts.device)
        self.weights, self.prior = rebalance_weights(counts / counts.sum(), self.centres,
                                                     self.settings.rebalance_lambda, self.settings.sigma)

    def nearest(self, ab):
        return _heaviest(*soft_encode(ab, self.centres, self.table, self.settings.sigma))

    def loss(self, output, target):
        """Soft cross-entropy against the 5 nearest bins, weighted by the rebalance weight of the
        nearest; the target has 5 non-zeros per pixel, so only those logits are gathered."""
        stride = self.settings.head_stride
        ab = F.avg_pool2d(target, stride) if stride > 1 else target
        index, weights = soft_encode(ab, self.centres, self.table, self.settings.sigma)
        logits = output.float()
        picked = logits.permute(0, 2, 3, 1).gather(-1, index)
        cross_entropy = torch.logsumexp(logits, dim=1) - (weights * picked).sum(dim=-1)
        rebalance = self.weights[_heaviest(index, weights)]
        return (rebalance * cross_entropy).mean()

    def predict_ab(self, output, size=None, temperature=None):
        """The annealed mean at `temperature` (None: the one the model was trained to be decoded at)."""
        temperature = self.settings.temperature if temperature is None else temperature
        return at_size(annealed_mean(output.float(), self.centres, temperature), size)

    def entropy(self, output):
        """Per-pixel entropy of the predicted bin distribution, in nats: high where the model is unsure."""
        logp = F.log_softmax(output.float(), dim=1)
        return -(logp.exp() * logp).sum(dim=1)


@dataclass
class EnsembleSettings:
    members: list = field(default_factory=list)  # each {"model": its name, "config": its config}


class Ensemble(ColourModel):
    """The mean of trained per-pixel models' raw ab, each decoded as its own file is (a classifier at its
    temperature, a mirroring model mirrored). Models trained on other losses err in other ways, and the squared
    error of the mean is at most the mean of theirs, less a quarter of their squared difference (for two).
    Made from trained files (ensemble.py), never trained as a whole."""

    name = "ensemble"
    units = "ab MSE (raw ab units)"

    def __init__(self, members=()):
        super().__init__(EnsembleSettings([{"model": m["model"], "config": dict(m["config"])} for m in members]))
        self.members = nn.ModuleList(build(m["model"], m["config"]) for m in self.settings.members)

    @classmethod
    def of(cls, models):
        """The ensemble of models already built and trained, their weights kept as they are."""
        ensemble = cls()
        ensemble.settings.members = [{"model": m.name, "config": m.config} for m in models]
        ensemble.members = nn.ModuleList(models)
        return ensemble

    def network(self, x):
        # each member's raw ab at the input's size (a classifier decodes at 1/4 of it), then their mean
        return torch.stack([member.predict_ab(member(x), x.shape[-2:]) for member in self.members]).mean(dim=0)

    def loss(self, output, target):
        return F.mse_loss(output, target)

    def predict_ab(self, output, size=None, temperature=None):
        """The members' mean as it is: each member decoded at its own temperature."""
        return at_size(output, size)


def _heaviest(index, weights):
    """The bin carrying most of a soft-encoded target: the pixel's nearest bin."""
    return index.gather(-1, weights.argmax(dim=-1, keepdim=True))[..., 0]


MODELS = {model.name: model for model in (MeanChromaRegressor, Colorizer, Classifier, Ensemble)}


def build(name, config):
    return MODELS[name](**config)
