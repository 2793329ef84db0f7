import pytest
import torch
from torch import nn

from common.models import MODELS, PRESETS, Classifier, Colorizer, ColourModel, Ensemble, MeanChromaRegressor, build


def test_regressor_is_seven_convs_of_three_maps_to_two_numbers():
    model = MeanChromaRegressor()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 7
    assert [c.out_channels for c in convs] == [3] * 6 + [2]
    assert all(c.kernel_size == (3, 3) and c.stride == (2, 2) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.LeakyReLU) for m in model.modules()) == 6
    assert model(torch.rand(4, 1, 128, 128)).shape == (4, 2)


REPORT = {1: [3, 3, 3, 3, 3], 2: [8, 16, 32, 64, 128], 3: [16, 32, 64, 128, 256]}  # the report's feature maps


@pytest.mark.parametrize("net", [1, 2, 3])
def test_the_presets_build_the_reports_networks(net):
    model = Colorizer(PRESETS[net])
    convs = [m for m in model.down.modules() if isinstance(m, nn.Conv2d)]
    ups = [m for m in model.up.modules() if isinstance(m, nn.ConvTranspose2d)]
    features = REPORT[net]
    assert [(c.in_channels, c.out_channels) for c in convs] == list(zip([1, *features[:-1]], features))
    assert [(c.in_channels, c.out_channels) for c in ups] == list(zip(features[::-1], [*features[::-1][1:], 2]))
    assert all(c.stride == (2, 2) and c.kernel_size == (3, 3) for c in convs + ups)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 9
    assert sum(isinstance(m, nn.LeakyReLU) for m in model.modules()) == 9
    assert isinstance(model.up[-1], nn.ConvTranspose2d)  # no BatchNorm or activation after the last
    assert model(torch.rand(2, 1, 128, 128)).shape == (2, 2, 128, 128)


def test_tanh_bounds_output_and_scales_ab():
    model = Colorizer(PRESETS[2], tanh=True)
    with torch.no_grad():
        model.up[-1].bias.fill_(50.0)
        out = model(torch.rand(2, 1, 64, 64))
    assert out.abs().max() <= 1 and out.min() > 0.99
    assert torch.allclose(model.predict_ab(out), out * 128)
    assert torch.isclose(model.loss(torch.zeros(1, 2, 4, 4), torch.full((1, 2, 4, 4), 64.0)), torch.tensor(0.25))


def members(*models):
    return [{"model": m.name, "config": m.config} for m in models]


@pytest.mark.parametrize("model", [MeanChromaRegressor(), Colorizer(PRESETS[1], tanh=True),
                                   Colorizer(unet=True, hints=True), Classifier(PRESETS[1]),
                                   Ensemble(members(Colorizer(PRESETS[1]), Classifier(PRESETS[1])))],
                         ids=["regressor", "tanh", "unet-hints", "classifier", "ensemble"])
def test_every_model_states_its_contract_and_rebuilds_from_its_config(model):
    assert isinstance(model, ColourModel) and MODELS[model.name] is type(model)
    rebuilt = build(model.name, model.config)
    assert rebuilt.config == model.config and rebuilt.settings == model.settings
    assert rebuilt.state_dict().keys() == model.state_dict().keys()
    x = torch.rand(2, 4 if model.takes_hints else 1, 64, 64)
    with torch.no_grad():
        out = model.eval()(x)
    ab = model.predict_ab(out, (64, 64))
    assert ab.shape == (2, 2, 64, 64) and isinstance(model.units, str)
    target = torch.zeros(2, 2) if model.target == "mean_ab" else torch.zeros(2, 2, 64, 64)
    assert torch.isfinite(model.loss(out, target))
    if model.has_bins:
        assert model.entropy(out).shape == (2, 16, 16) and model.learns_prior
    else:
        with pytest.raises(TypeError):
            model.entropy(out)


def test_the_classifiers_temperature_is_an_argument_not_state():
    model = Classifier(PRESETS[1]).eval()
    logits = torch.randn(1, model.bins, 4, 4)
    default, cold, mean = (model.predict_ab(logits, temperature=t) for t in (None, 0.0, 1.0))
    assert torch.equal(default, model.predict_ab(logits, temperature=0.38)) and model.settings.temperature == 0.38
    assert not torch.allclose(cold, mean) and torch.equal(default, model.predict_ab(logits))


@pytest.mark.parametrize("model", [Colorizer(PRESETS[1], unet=True, mirror=True),
                                   Classifier(PRESETS[1], unet=True, hints=True, mirror=True)],
                         ids=["unet", "classifier"])
def test_a_mirroring_model_answers_a_picture_and_its_mirror_image_alike_in_evaluation_only(model):
    x = torch.rand(2, 4 if model.takes_hints else 1, 32, 32)
    with torch.no_grad():
        trained = model.train()(x), model(x.flip(-1)).flip(-1)
        seen = model.eval()(x), model(x.flip(-1)).flip(-1)
        model.settings.mirror = False
        plain = model(x), model(x.flip(-1)).flip(-1)
    assert torch.allclose(*seen, atol=1e-5)  # one answer for the picture and its mirror image
    assert not torch.allclose(*plain, atol=1e-3) and not torch.allclose(*trained, atol=1e-3)  # the network has none
    assert torch.allclose(seen[0], (plain[0] + plain[1]) / 2, atol=1e-5)
    assert build(model.name, {**model.config, "mirror": True}).mirror and not MeanChromaRegressor().mirror


def test_an_ensemble_answers_the_mean_of_its_members_each_decoded_as_its_own_file():
    torch.manual_seed(0)
    tanh, classifier = Colorizer(PRESETS[1], tanh=True, mirror=True), Classifier(PRESETS[1], temperature=0.55)
    ensemble = Ensemble(members(tanh, classifier))
    ensemble.members[0].load_state_dict(tanh.state_dict())
    ensemble.members[1].load_state_dict(classifier.state_dict())
    x, target = torch.rand(2, 1, 32, 32), torch.randn(2, 2, 32, 32) * 20
    with torch.no_grad():
        own = [m.eval().predict_ab(m(x), (32, 32)) for m in (tanh, classifier)]
        ab = ensemble.predict_ab(ensemble.eval()(x), (32, 32))
    assert torch.allclose(ab, (own[0] + own[1]) / 2, atol=1e-4)
    assert not torch.allclose(own[1], classifier.predict_ab(classifier(x), (32, 32), temperature=0.38), atol=1e-3)
    errors = [ensemble.loss(o, target) for o in own]  # the mean's squared error: the members' mean, less the spread
    spread = ((own[0] - own[1]) ** 2).mean() / 4
    assert torch.isclose(ensemble.loss(ab, target), sum(errors) / 2 - spread, rtol=1e-4) and spread > 0
