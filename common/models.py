"""The report's networks. Every model says what it learns (`target`), how it is scored in its own
units (`loss`) and how its output becomes raw ab (`predict_ab`), so one engine trains them all."""
import torch
import torch.nn.functional as F
from torch import nn

from .color import AB_SCALE, ab_bins, annealed_mean, neighbour_table, rebalance_weights, soft_encode

PRESETS = {1: (3, 3, 3, 3, 3), 2: (8, 16, 32, 64, 128), 3: (16, 32, 64, 128, 256)}


class MeanChromaRegressor(nn.Module):
    """Predicts an image's mean a and mean b from L: 7 stride-2 convolutions, 3 maps each."""

    target = "mean_ab"
    hints = False

    def __init__(self, width=3, layers=7):
        super().__init__()
        self.config = {"width": width, "layers": layers}
        # (1) x 128 x 128 -> (width) x 64 x 64 -> ... -> (width) x 2 x 2 -> (2) x 1 x 1, averaged to (2)
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


class Colorizer(nn.Module):
    """L -> ab per pixel: 5 stride-2 conv modules down, 5 transposed-conv modules back up; or a U-Net on the
    same modules (`unet`). With `hints` the network also sees the user's colour hints."""

    target = "ab"

    def __init__(self, features=PRESETS[3], tanh=False, unet=False, hints=False):
        super().__init__()
        features = list(features)
        self.config = {"features": features, "tanh": tanh, "unet": unet, "hints": hints}
        self.tanh, self.unet, self.hints = tanh, unet, hints
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
    def scale(self):
        return AB_SCALE if self.tanh else 1.0

    def forward(self, x):
        out = self.body(x) if self.unet else self.up(self.down(x))
        return torch.tanh(out) if self.tanh else out

    def loss(self, output, target):
        return F.mse_loss(output, target / self.scale)

    def predict_ab(self, output, size=None):
        ab = output.float() * self.scale
        return ab if size is None or ab.shape[-2:] == tuple(size) else F.interpolate(
            ab, size=size, mode="bilinear", align_corners=False)


class Classifier(nn.Module):
    """Colour as classification (Zhang, Isola & Efros 2016): per-pixel logits over Q in-gamut ab bins,
    trained with a rebalanced soft cross-entropy and decoded by the annealed mean.

    The report's encoder, then up-modules back to 1/`head_stride` of the input and a 1x1 conv to Q
    logits; the decoded ab is upsampled (bilinear) to the picture's size.
    """

    target = "ab"

    def __init__(self, features=PRESETS[3], head_stride=4, grid=10, sigma=5.0, rebalance_lambda=0.5,
                 temperature=0.38, unet=False, hints=False):
        super().__init__()
        features = list(features)
        self.config = {"features": features, "head_stride": head_stride, "grid": grid, "sigma": sigma,
                       "rebalance_lambda": rebalance_lambda, "temperature": temperature, "unet": unet, "hints": hints}
        self.head_stride, self.sigma, self.rebalance_lambda = head_stride, sigma, rebalance_lambda
        self.temperature, self.unet, self.hints = temperature, unet, hints
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
    def bins(self):
        return len(self.centres)

    def forward(self, x):
        return self.body(x) if self.unet else self.head(self.up(self.down(x)))

    @torch.no_grad()
    def set_prior(self, ab):
        """Class weights from the training set's ab (N,2,H,W): its bin histogram, smoothed and mixed."""
        counts = torch.zeros(self.bins, device=ab.device)
        for chunk in ab.split(64):
            counts += torch.bincount(self.nearest(chunk).flatten(), minlength=self.bins)
        self.weights, self.prior = rebalance_weights(counts / counts.sum(), self.centres, self.rebalance_lambda,
                                                     self.sigma)

    def nearest(self, ab):
        return _heaviest(*soft_encode(ab, self.centres, self.table, self.sigma))

    def loss(self, output, target):
        """Soft cross-entropy against the 5 nearest bins, weighted by the rebalance weight of the
        nearest; the target has 5 non-zeros per pixel, so only those logits are gathered."""
        ab = F.avg_pool2d(target, self.head_stride) if self.head_stride > 1 else target
        index, weights = soft_encode(ab, self.centres, self.table, self.sigma)
        logits = output.float()
        picked = logits.permute(0, 2, 3, 1).gather(-1, index)
        cross_entropy = torch.logsumexp(logits, dim=1) - (weights * picked).sum(dim=-1)
        rebalance = self.weights[_heaviest(index, weights)]
        return (rebalance * cross_entropy).mean()

    def predict_ab(self, output, size=None):
        ab = annealed_mean(output.float(), self.centres, self.temperature)
        return ab if size is None else F.interpolate(ab, size=size, mode="bilinear", align_corners=False)

    def entropy(self, output):
        """Per-pixel entropy of the predicted bin distribution, in nats: high where the model is unsure."""
        logp = F.log_softmax(output.float(), dim=1)
        return -(logp.exp() * logp).sum(dim=1)


def _heaviest(index, weights):
    """The bin carrying most of a soft-encoded target: the pixel's nearest bin."""
    return index.gather(-1, weights.argmax(dim=-1, keepdim=True))[..., 0]


MODELS = {"regressor": MeanChromaRegressor, "colorizer": Colorizer, "classifier": Classifier}


def build(name, config):
    return MODELS[name](**config)


def model_name(model):
    return next(k for k, v in MODELS.items() if type(model) is v)
