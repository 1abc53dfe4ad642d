"""airbench's training pieces: decoupled Nesterov SGD, the triangle schedule, the summed loss
with label smoothing, lookahead; against hand computations and PyTorch set up as airbench."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.losses import softmax_cross_entropy
from engine.training.callbacks import Callback
from engine.training.lookahead import Lookahead
from engine.training.optimizers import DecoupledSGD, kilostep_scale, make_optimizer
from engine.training.schedules import make_schedule
from engine.training.trainer import Trainer
from tests.engine.training_toys import toy_images

SPEC = [{"type": "whiten", "bias_epochs": None}, {"type": "gelu"},
        {"type": "conv2d", "filters": 4, "padding": "same", "bias": False, "init": "dirac"},
        {"type": "batchnorm", "momentum": 0.6, "eps": 1e-12, "scale": False}, {"type": "gelu"},
        {"type": "flatten"}, {"type": "dense", "units": "num_classes", "bias": False},
        {"type": "scale", "factor": 1 / 9}]


class OneParam:
    def __init__(self, name, value):
        self.p = np.array([value])
        self.g = np.zeros(1)
        self.name = name

    def parameters(self):
        yield self.name, self.p, self.g


def test_decoupled_step_by_hand():
    # lr 11.5 per 1024 examples, momentum 0.85, wd 0.0153, batch 512: two steps by hand.
    k = 1024 * (1 + 1 / 0.15)
    assert kilostep_scale(0.85) == pytest.approx(k)
    for name, scale in (("conv1.W", 1.0), ("bn1.beta", 64.0)):
        m = OneParam(name, 2.0)
        opt = DecoupledSGD(m, 11.5, momentum=0.85, weight_decay=0.0153, batch_size=512)
        p, v = 2.0, 0.0
        for grad, lr in ((0.3, 11.5), (-0.1, 5.75)):  # the schedule halves the rate
            m.g[0] = grad
            opt.lr = lr
            opt.step()
            g = grad + 0.0153 * 512 / 11.5 / scale * p
            v = 0.85 * v + g
            p -= lr / k * scale * (g + 0.85 * v)
            assert m.p[0] == pytest.approx(p, rel=1e-12)


def test_triangle_schedule_against_interpolation():
    total = 476  # airbench94: ceil(48 * 9.9)
    lr_at = make_schedule("triangle", 11.5, total)
    ref = np.interp(np.arange(total + 1), [0, int(0.23 * total), total], [0.2, 1.0, 0.07]) * 11.5
    np.testing.assert_allclose([lr_at(i) for i in range(total + 1)], ref, rtol=1e-12)
    assert lr_at(total + 5) == pytest.approx(0.07 * 11.5)
    with pytest.raises(ValueError, match="peak must fall inside the run"):
        make_schedule("triangle", 1.0, 3, peak=0.1)


def test_summed_smoothed_loss_equals_torch():
    torch = pytest.importorskip("torch")
    logits = np.random.default_rng(0).standard_normal((6, 10))
    y = np.array([0, 3, 9, 3, 2, 1])
    loss, d = softmax_cross_entropy(logits, y, label_smoothing=0.2)
    t = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.CrossEntropyLoss(label_smoothing=0.2, reduction="none")(t, torch.tensor(y))
    ref.sum().backward()
    assert loss == pytest.approx(ref.mean().item(), rel=1e-12)
    np.testing.assert_allclose(d * len(y), t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_airbench_optimizer_setup_equals_torch_sgd_with_its_param_groups():
    """Our model, optimizer, schedule and summed loss against airbench's PyTorch recipe on the
    same weights and data: norm biases at 64x lr with wd / lr_biases, the rest at lr with wd /
    lr, Nesterov SGD, LambdaLR(triangle), CrossEntropyLoss(label_smoothing=0.2).sum()."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    model = engine.build_model(SPEC, (6, 6, 3), 10, seed=1).astype(np.float64)
    x = np.random.default_rng(2).standard_normal((8, 6, 6, 3))
    y = np.random.default_rng(3).integers(0, 10, 8)
    total, batch = 6, 8
    opt = DecoupledSGD(model, 11.5, momentum=0.85, weight_decay=0.0153, batch_size=batch)
    schedule = make_schedule("triangle", 11.5, total)

    st = {k: torch.tensor(v, requires_grad=True) for k, v in model.state_dict().items()
          if k in dict((n, 0) for n, _, _ in model.parameters())}
    momentum, k = 0.85, kilostep_scale(0.85)
    lr = 11.5 / k
    wd = 0.0153 * batch / k
    norm_biases = [st["bn1.beta"]]
    others = [st["whiten1.b"], st["conv1.W"], st["dense1.W"]]
    topt = torch.optim.SGD([dict(params=norm_biases, lr=lr * 64, weight_decay=wd / (lr * 64)),
                            dict(params=others, lr=lr, weight_decay=wd / lr)],
                           momentum=momentum, nesterov=True)
    xp = [0, int(0.23 * total), total]
    factors = np.interp(np.arange(total + 1), xp, [0.2, 1.0, 0.07])
    sched = torch.optim.lr_scheduler.LambdaLR(topt, lambda i: factors[i])
    running = {"mean": torch.zeros(4, dtype=torch.float64),
               "var": torch.ones(4, dtype=torch.float64)}

    def torch_forward(inputs):
        h = F.conv2d(inputs, st["whiten1.W"].permute(3, 2, 0, 1), st["whiten1.b"])
        h = F.gelu(h, approximate="tanh")
        h = F.conv2d(h, st["conv1.W"].permute(3, 2, 0, 1), padding="same")
        h = F.batch_norm(h, running["mean"], running["var"], st["bn1.gamma"], st["bn1.beta"],
                         training=True, momentum=0.4, eps=1e-12)
        h = F.gelu(h, approximate="tanh").permute(0, 2, 3, 1).reshape(len(inputs), -1)
        return (h @ st["dense1.W"]) / 9

    tx = torch.tensor(x.transpose(0, 3, 1, 2))
    for step in range(total):
        opt.lr = schedule(step)
        model.zero_grad()
        logits = model.forward(x, training=True)
        _, d = softmax_cross_entropy(logits, y, label_smoothing=0.2)
        model.backward(d * len(y))
        opt.step()
        topt.zero_grad()
        loss = F.cross_entropy(torch_forward(tx), torch.tensor(y), label_smoothing=0.2,
                               reduction="none").sum()
        loss.backward()
        topt.step()
        sched.step()
    state = model.state_dict()
    for name, value in st.items():
        np.testing.assert_allclose(state[name], value.detach().numpy(), rtol=1e-7, atol=1e-9,
                                   err_msg=name)
    np.testing.assert_allclose(state["bn1.running_mean"], running["mean"].numpy(), rtol=1e-7,
                               atol=1e-10)


def test_make_optimizer_builds_it_by_name_and_state_round_trips():
    model = engine.build_model(SPEC, (6, 6, 3), 10)
    opt = make_optimizer("decoupled_sgd", model, 11.5, momentum=0.85, batch_size=1024,
                         weight_decay=0.0153)
    model.forward(np.ones((2, 6, 6, 3), np.float32), training=True)
    model.backward(np.ones((2, 10), np.float32))
    opt.step()
    again = make_optimizer("decoupled_sgd", model, 1.0)
    again.load_state_dict(opt.state_dict())
    assert again.hyperparameters() == opt.hyperparameters()
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DecoupledSGD(model, 1.0, batch_size=0)


def _run(lookahead, epochs=2, stop_after=None, state=None):
    x, y = toy_images(40, 0)
    model = engine.build_model([{"type": "conv2d", "filters": 3}, {"type": "batchnorm"},
                                {"type": "relu"}, {"type": "flatten"},
                                {"type": "dense", "units": "num_classes"}], (8, 8, 1), 3)
    opt = make_optimizer("sgd", model, 0.05, momentum=0.9)
    callbacks = [lookahead] if lookahead else []
    trainer = Trainer(model, opt, epochs=epochs, batch_size=8, callbacks=callbacks)
    if state is not None:
        trainer.load_state_dict(state)
    if stop_after:
        trainer.callbacks.callbacks.append(_StopAfter(stop_after))
        trainer.callbacks.callbacks[-1].set_trainer(trainer)
    trainer.fit(x, y)
    return trainer


class _StopAfter(Callback):
    def __init__(self, steps):
        self.steps = steps

    def on_batch_end(self, batch, logs):
        if logs["step"] == self.steps:
            self.trainer.stop_training = True


def test_lookahead_equals_a_hand_written_average_and_survives_a_resume():
    """The reference replays airbench's LookaheadState on copies of the weights, step by step,
    from a run without the callback whose weights are replaced by hand at the same steps."""
    assert Lookahead().decay(10, 20) == pytest.approx(0.95**5 * 0.5**3)
    ours = _run(Lookahead(start_epoch=1, every=2))

    x, y = toy_images(40, 0)
    model = engine.build_model([{"type": "conv2d", "filters": 3}, {"type": "batchnorm"},
                                {"type": "relu"}, {"type": "flatten"},
                                {"type": "dense", "units": "num_classes"}], (8, 8, 1), 3)
    opt = make_optimizer("sgd", model, 0.05, momentum=0.9)
    ema = {}

    class HandAverage(Callback):
        def on_batch_end(self, batch, logs):
            step, total = logs["step"], logs["total_steps"]
            if logs["epoch"] >= 1 and step % 2 == 0:
                net = model.state_dict()
                if not ema:
                    ema.update({k: v.copy() for k, v in net.items()})
                    return
                rho = 0.95**2 * (step / total) ** 3
                for k in ema:
                    ema[k] = ema[k] + (1 - rho) * (net[k] - ema[k])
                model.load_state_dict(ema)

        def on_epoch_end(self, epoch, logs):
            if ema:
                model.load_state_dict(ema)

    Trainer(model, opt, epochs=2, batch_size=8, callbacks=[HandAverage()]).fit(x, y)
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(ours.model.state_dict()[k], v, rtol=1e-6, atol=1e-7)
    plain = _run(None)
    assert not np.allclose(plain.model.state_dict()["dense1.W"],
                           ours.model.state_dict()["dense1.W"])
    # Stopped in the second epoch (average under way) and resumed: the same bits.
    stopped = _run(Lookahead(start_epoch=1, every=2), stop_after=7)
    resumed = _run(Lookahead(start_epoch=1, every=2), state=stopped.state_dict())
    for k, v in ours.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[k], v)


def test_sum_loss_scales_the_gradients_by_the_batch():
    x, y = toy_images(16, 1)
    grads = []
    for sum_loss in (False, True):
        model = engine.build_model([{"type": "flatten"}, {"type": "dense", "units": 3}],
                                   (8, 8, 1), 3)
        opt = make_optimizer("sgd", model, 1e-9)
        trainer = Trainer(model, opt, epochs=1, batch_size=16, sum_loss=sum_loss)
        trainer.fit(x, y)
        grads.append(model.layers[1].grads["W"].copy())
    np.testing.assert_allclose(grads[1], grads[0] * 16, rtol=1e-5)
