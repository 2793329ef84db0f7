import pytest
import torch
from torch import nn

from common.models import PRESETS, Colorizer, MeanChromaRegressor


def test_regressor_is_seven_convs_of_three_maps_to_two_numbers():
    model = MeanChromaRegressor()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 7
    assert [c.out_channels for c in convs] == [3] * 6 + [2]
    assert all(c.kernel_size == (3, 3) and c.stride == (2, 2) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.LeakyReLU) for m in model.modules()) == 6
    assert model(torch.rand(4, 1, 128, 128)).shape == (4, 2)


@pytest.mark.parametrize("net", [1, 2, 3])
def test_colorizer_presets_channel_plan_and_shapes(net):
    model = Colorizer(PRESETS[net])
    convs = [m for m in model.down.modules() if isinstance(m, nn.Conv2d)]
    ups = [m for m in model.up.modules() if isinstance(m, nn.ConvTranspose2d)]
    features = list(PRESETS[net])
    assert [(c.in_channels, c.out_channels) for c in convs] == list(zip([1, *features[:-1]], features))
    assert [(c.in_channels, c.out_channels) for c in ups] == list(zip(features[::-1], [*features[::-1][1:], 2]))
    assert all(c.stride == (2, 2) and c.kernel_size == (3, 3) for c in convs + ups)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 9
    assert sum(isinstance(m, nn.LeakyReLU) for m in model.modules()) == 9
    assert isinstance(model.up[-1], nn.ConvTranspose2d)  # no BatchNorm or activation after the last
    assert model(torch.rand(2, 1, 128, 128)).shape == (2, 2, 128, 128)


def test_network_presets_are_the_reports():
    assert PRESETS == {1: (3, 3, 3, 3, 3), 2: (8, 16, 32, 64, 128), 3: (16, 32, 64, 128, 256)}


def test_tanh_bounds_output_and_scales_ab():
    model = Colorizer(PRESETS[2], tanh=True)
    with torch.no_grad():
        model.up[-1].bias.fill_(50.0)
        out = model(torch.rand(2, 1, 64, 64))
    assert out.abs().max() <= 1 and out.min() > 0.99
    assert torch.allclose(model.predict_ab(out), out * 128)
    assert torch.isclose(model.loss(torch.zeros(1, 2, 4, 4), torch.full((1, 2, 4, 4), 64.0)), torch.tensor(0.25))
