"""Attribution methods: the three ReLU rules, neuron targets, occlusion, SmoothGrad, integrated gradients,
Grad-CAM, and a cross-check of each against Captum.

Captum (PyPI ``captum``, a test extra) is the reference: the course's ``Saliency``, ``GuidedBackprop``,
``Deconvnet``, ``Occlusion``, ``SmoothGrad``, ``IntegratedGradients`` and ``GradCAM`` must give the same maps as
Captum's ``Saliency``, ``GuidedBackprop``, ``Deconvolution``, ``Occlusion``, ``NoiseTunnel(...)``,
``IntegratedGradients`` and ``LayerGradCam`` (+ ``LayerAttribution.interpolate``) on the course CNN
(max abs difference <= 1e-6).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.attribution import (QUADRATURES, Deconvnet, GradCAM, GuidedBackprop, IntegratedGradients, Neuron,
                                      Occlusion, RandomBaseline, Saliency, SmoothGrad, occlusion_positions,
                                      relu_backward, to_heatmap)
from course_utils.cnn import DigitCNN

captum_attr = pytest.importorskip("captum.attr")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")   # Captum announces its hooks


def _model(pool: str = "avg", seed: int = 0) -> DigitCNN:
    """A course CNN with random weights and non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = DigitCNN(pool=pool)
    with torch.no_grad():
        model.train()
        for _ in range(3):
            model(torch.rand(16, 1, 32, 32))
    return model.eval()


def _inputs(n: int = 3, size: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("pool", ["avg", "max"])
@pytest.mark.parametrize("ours, theirs", [(Saliency, "Saliency"), (GuidedBackprop, "GuidedBackprop"),
                                          (Deconvnet, "Deconvolution")])
def test_gradient_methods_equal_captum(ours, theirs, pool):
    model = _model(pool)
    x = _inputs()
    target = torch.tensor([3, 0, 7])
    got = ours(model).attribute(x, target)
    expected = getattr(captum_attr, theirs)(model).attribute(x, target=target)
    assert got.shape == x.shape
    assert float(expected.abs().max()) > 0
    assert float((got - expected).abs().max()) <= 1e-6


def test_signed_saliency_is_the_plain_gradient():
    model = _model()
    x = _inputs(2)
    got = Saliency(model, absolute=False).attribute(x, 4)
    expected = captum_attr.Saliency(model).attribute(x, target=4, abs=False)
    assert float((got - expected).abs().max()) <= 1e-6
    assert (got < 0).any() and (got > 0).any()


@pytest.mark.parametrize("patch, stride", [(8, 4), (6, 5), (5, 5), (3, 1)])
def test_occlusion_equals_captum(patch, stride):
    model = _model()
    x = _inputs(2)
    got = Occlusion(model, patch=patch, stride=stride, batch_size=37).attribute(x, torch.tensor([2, 9]))
    expected = captum_attr.Occlusion(model).attribute(
        x, sliding_window_shapes=(1, patch, patch), strides=(1, stride, stride), baselines=0.0,
        target=torch.tensor([2, 9]), perturbations_per_eval=64)
    assert got.shape == x.shape
    assert float((got - expected).abs().max()) <= 1e-6


def test_neuron_targets_equal_captum_neuron_methods():
    model = _model()
    x = _inputs(2)
    layer = model.layer("relu2")
    for ours, theirs in [(Saliency(model, absolute=False), "NeuronGradient"),
                         (GuidedBackprop(model), "NeuronGuidedBackprop"),
                         (Deconvnet(model), "NeuronDeconvolution")]:
        got = ours.attribute(x, Neuron("relu2", channel=5, row=6, col=9))
        expected = getattr(captum_attr, theirs)(model, layer).attribute(x, neuron_selector=(5, 6, 9))
        assert float(expected.abs().max()) > 0
        assert float((got - expected).abs().max()) <= 1e-6


def test_neuron_gradient_is_zero_outside_its_receptive_field():
    model = _model()
    x = _inputs(1)
    g = Saliency(model).attribute(x, Neuron("conv1", channel=0, row=10, col=20))[0, 0]
    rows, cols = np.nonzero(g.numpy())
    assert rows.min() >= 9 and rows.max() <= 11 and cols.min() >= 19 and cols.max() <= 21
    g = Saliency(model).attribute(x, Neuron("conv2", channel=1, row=5, col=5))[0, 0]   # receptive field 8, jump 2
    rows, cols = np.nonzero(g.numpy())
    assert rows.min() >= 10 - 3 and rows.max() <= 11 + 3 and rows.max() - rows.min() <= 7


def test_strongest_position_neuron_and_fc_neuron():
    model = _model()
    x = _inputs(2)
    with torch.no_grad():
        from course_utils.attribution import layer_output
        with layer_output(model, "relu3") as store:
            model(x)
    act = store["out"][:, 7]
    n = Neuron("relu3", 7)
    assert torch.allclose(n.select(store["out"]), act.flatten(1).max(1).values)
    g_fc = Saliency(model, absolute=False).attribute(x, Neuron("classifier", 3))
    g_cls = Saliency(model, absolute=False).attribute(x, 3)
    assert torch.allclose(g_fc, g_cls)


@pytest.mark.parametrize("rule", ["backprop", "deconvnet", "guided"])
def test_relu_backward_rules(rule):
    f = np.array([[-1.0, 2.0], [3.0, -4.0]])
    R = np.array([[5.0, -6.0], [7.0, 8.0]])
    expected = {"backprop": [[0, -6], [7, 0]], "deconvnet": [[5, 0], [7, 8]], "guided": [[0, 0], [7, 0]]}[rule]
    np.testing.assert_array_equal(relu_backward(f, R, rule), expected)


def test_bad_inputs_give_clear_errors():
    model = _model()
    x = _inputs(2)
    with pytest.raises(ValueError, match="rule"):
        relu_backward(np.zeros(2), np.zeros(2), "sideways")
    with pytest.raises(ValueError, match="same shape"):
        relu_backward(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="out of range"):
        Saliency(model).attribute(x, 10)
    with pytest.raises(ValueError, match="N = 2 ints"):
        Saliency(model).attribute(x, [1, 2, 3])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        Saliency(model).attribute(x[0], 1)
    with pytest.raises(ValueError, match="stride 5 > patch 4"):
        Occlusion(model, patch=4, stride=5).attribute(x, 1)
    with pytest.raises(ValueError, match="positive integers"):
        Occlusion(model, patch=0, stride=1)
    with pytest.raises(ValueError, match="n_samples"):
        SmoothGrad(model, n_samples=0)
    with pytest.raises(TypeError, match="attribution method"):
        SmoothGrad(model, base=model)
    with pytest.raises(ValueError, match="rule must be one of"):
        IntegratedGradients(model, rule="simpson")
    with pytest.raises(ValueError, match="broadcast"):
        IntegratedGradients(model, baseline=torch.zeros(5)).attribute(x, 1)
    with pytest.raises(ValueError, match="convolutional layer"):
        GradCAM(model, "classifier").attribute(x, 1)
    with pytest.raises(KeyError, match="conv9"):
        Saliency(model).attribute(x, Neuron("conv9", 0))
    with pytest.raises(ValueError, match="both row and col"):
        Neuron("conv1", 0, row=1)
    with pytest.raises(ValueError, match="channel 99"):
        Saliency(model).attribute(x, Neuron("conv1", 99))


def test_random_baseline_and_heatmap():
    x = _inputs(2)
    r1 = RandomBaseline(seed=3).attribute(x)
    r2 = RandomBaseline(seed=3).attribute(x)
    assert r1.shape == x.shape and torch.equal(r1, r2)
    attr = torch.tensor([[[[1.0, -3.0]], [[-2.0, 0.5]]]])      # (1, 2, 1, 2)
    np.testing.assert_array_equal(to_heatmap(attr), [[[2.0, 3.0]]])
    np.testing.assert_array_equal(to_heatmap(attr, absolute=False), [[[1.0, 0.5]]])


def test_hooks_are_removed_after_a_call():
    model = _model()
    x = _inputs(1)
    GuidedBackprop(model).attribute(x, 1)
    x = x.clone().requires_grad_(True)
    model(x)[0, 1].backward()
    expected = Saliency(model, absolute=False).attribute(x.detach(), 1)
    assert torch.allclose(x.grad, expected)


def test_occlusion_grid_accepts_a_stride_above_the_patch():
    """What the lecture's widget does with patch 2, stride 8: a sparse grid, no error (attribute() refuses)."""
    model = _model()
    x = _inputs(1)
    scores, original = Occlusion(model, patch=2, stride=8).grid(x, 4)
    assert occlusion_positions(32, 2, 8) == [0, 8, 16, 24]
    assert scores.shape == (1, 4, 4) and original.shape == (1,)
    assert occlusion_positions(32, 8, 4)[-1] == 24 and occlusion_positions(32, 40, 4) == [0]
    assert occlusion_positions(10, 3, 4) == [0, 4, 8]          # the last window overhangs and is clipped


@pytest.mark.parametrize("base", ["Saliency", "GuidedBackprop"])
def test_smoothgrad_equals_captum_noise_tunnel(base):
    model = _model("max")
    x = _inputs()
    target = torch.tensor([3, 0, 7])
    ours_base = {"Saliency": None, "GuidedBackprop": GuidedBackprop(model)}[base]
    got = SmoothGrad(model, base=ours_base, stdev=0.2, n_samples=8, seed=5, batch_size=5).attribute(x, target)
    torch.manual_seed(5)                           # Captum draws its noise from the global generator
    expected = captum_attr.NoiseTunnel(getattr(captum_attr, base)(model)).attribute(
        x, nt_type="smoothgrad", nt_samples=8, stdevs=0.2, target=target)
    assert got.shape == x.shape
    assert float(expected.abs().max()) > 0
    assert float((got - expected).abs().max()) <= 1e-6
    again = SmoothGrad(model, base=ours_base, stdev=0.2, n_samples=8, seed=5).attribute(x, target)
    assert float((got - again).abs().max()) <= 1e-6        # reproducible, whatever the batch size


def test_smoothgrad_with_no_noise_is_the_base_method():
    model = _model()
    x = _inputs(2)
    got = SmoothGrad(model, stdev=0.0, n_samples=3).attribute(x, 5)
    assert torch.allclose(got, Saliency(model).attribute(x, 5), atol=1e-7)


@pytest.mark.parametrize("rule", QUADRATURES)
def test_integrated_gradients_equal_captum(rule):
    model = _model("max")
    x = _inputs()
    target = torch.tensor([3, 0, 7])
    ig = IntegratedGradients(model, steps=12, rule=rule, batch_size=7)
    got = ig.attribute(x, target)
    expected = captum_attr.IntegratedGradients(model).attribute(x, target=target, n_steps=12, method=rule)
    if rule == "riemann_trapezoid":
        expected = expected * 12 / 11          # Captum's trapezoid weights sum to (n - 1)/n (see the module docstring)
    assert float(expected.abs().max()) > 0
    assert float((got - expected).abs().max()) <= 1e-6


def test_integrated_gradients_completeness_and_baseline():
    model = _model()
    x = _inputs(2)
    ig = IntegratedGradients(model, steps=64)
    attr = ig.attribute(x, 2)
    with torch.no_grad():
        gap = model(x)[:, 2] - model(torch.zeros_like(x))[:, 2]
    assert float(ig.delta(x, 2, attr).abs().max()) <= 0.02 * float(gap.abs().max())
    same = IntegratedGradients(model, baseline=x, steps=4).attribute(x, 2)    # baseline = input: nothing to explain
    assert float(same.abs().max()) == 0.0


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("pool", ["avg", "max"])
def test_gradcam_equals_captum(pool, relu):
    model = _model(pool)
    x = _inputs()
    target = torch.tensor([3, 0, 7])
    got = GradCAM(model, "relu3", relu=relu).attribute(x, target)
    layer_map = captum_attr.LayerGradCam(model, model.layer("relu3")).attribute(x, target=target, relu_attributions=relu)
    expected = captum_attr.LayerAttribution.interpolate(layer_map, (32, 32), interpolate_mode="bilinear")
    assert got.shape == x.shape
    assert float(expected.abs().max()) > 0
    assert float((got - expected).abs().max()) <= 1e-6
    if relu:
        assert float(got.min()) >= 0


def test_new_methods_take_neuron_targets():
    model = _model()
    x = _inputs(2)
    neuron = Neuron("relu2", channel=5, row=6, col=9)
    for method in [SmoothGrad(model, n_samples=2), IntegratedGradients(model, steps=3), GradCAM(model, "relu1")]:
        got = method.attribute(x, neuron)
        assert got.shape == x.shape and float(got.abs().max()) > 0
