"""Module 07: seeds, clipping, schedules (against torch's values), the Trainer and .npz checkpoints."""

import math
import random
import zipfile

import numpy as np
import pytest

from tinytorch import Tensor, is_grad_enabled
from tinytorch.nn import CrossEntropyLoss, Dropout, Linear, Module, MSELoss, ReLU, Sequential, Tanh
from tinytorch.optim import SGD, Adam
from tinytorch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR, StepLR
from tinytorch.training import (
    Trainer,
    TrainEvent,
    TrainingDivergedError,
    accuracy,
    clip_grad_norm_,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
)

pytestmark = pytest.mark.m07


# --- seeds -------------------------------------------------------------------------------------
def test_seed_everything_repeats_python_numpy_and_weight_init():
    seed_everything(7)
    first = (random.random(), np.random.random(), Linear(3, 2).weight.data.copy())
    seed_everything(7)
    second = (random.random(), np.random.random(), Linear(3, 2).weight.data.copy())
    assert first[:2] == second[:2]
    assert np.array_equal(first[2], second[2])
    seed_everything(8)
    assert not np.array_equal(Linear(3, 2).weight.data, first[2])


# --- gradient clipping -------------------------------------------------------------------------
def _params_with_grads(scale, seed=0):
    rng = np.random.default_rng(seed)
    params = [Tensor(np.zeros(shape), requires_grad=True, dtype=np.float32) for shape in [(4, 3), (3,), (2, 2, 2)]]
    for p in params:
        p.grad = Tensor(rng.standard_normal(p.shape) * scale, dtype=np.float32)
    return params


def test_clip_grad_norm_bounds_the_joint_norm_and_keeps_the_direction():
    params = _params_with_grads(scale=10.0)
    before = np.concatenate([p.grad.data.ravel() for p in params])
    norm = clip_grad_norm_(params, max_norm=2.0)
    after = np.concatenate([p.grad.data.ravel() for p in params])
    assert norm == pytest.approx(np.linalg.norm(before), rel=1e-6)
    assert np.linalg.norm(after) == pytest.approx(2.0, rel=1e-5)
    np.testing.assert_allclose(after, before * (2.0 / np.linalg.norm(before)), rtol=1e-5)
    assert all(p.grad.dtype == np.float32 for p in params)


def test_clip_grad_norm_leaves_small_gradients_and_skips_missing_ones():
    params = _params_with_grads(scale=0.01)
    params.append(Tensor([1.0], requires_grad=True))  # grad is None
    before = [p.grad.data.copy() for p in params[:3]]
    norm = clip_grad_norm_(params, max_norm=5.0)
    assert norm == pytest.approx(math.sqrt(sum(float((b.astype(np.float64) ** 2).sum()) for b in before)), rel=1e-6)
    for p, b in zip(params, before):
        assert np.array_equal(p.grad.data, b)
    assert params[3].grad is None


def test_clip_grad_norm_refuses_a_non_positive_max_norm():
    with pytest.raises(ValueError, match="max_norm > 0"):
        clip_grad_norm_(_params_with_grads(1.0), max_norm=0)


# --- schedules ---------------------------------------------------------------------------------
def _lrs(make, steps, optimizer="sgd"):
    p = Tensor([0.0], requires_grad=True)
    opt = SGD([p], lr=1.0, momentum=0.9) if optimizer == "sgd" else Adam([p], lr=1.0)
    schedule = make(opt)
    momentum = (lambda: opt.momentum) if optimizer == "sgd" else (lambda: opt.betas[0])
    lrs, momenta = [opt.lr], [momentum()]
    for _ in range(steps):
        schedule.step()
        lrs.append(opt.lr)
        momenta.append(momentum())
    assert all(type(lr) is float for lr in lrs), "Python floats, so updates stay float32"
    return lrs, momenta


def test_step_lr_closed_form():
    lrs, _ = _lrs(lambda o: StepLR(o, step_size=3, gamma=0.5), 7)
    assert lrs == [1.0 * 0.5 ** (t // 3) for t in range(8)]


def test_cosine_closed_form_and_torch_values():
    lrs, _ = _lrs(lambda o: CosineAnnealingLR(o, T_max=5, eta_min=0.1), 7)
    closed = [0.1 + 0.9 * (1 + math.cos(math.pi * t / 5)) / 2 for t in range(8)]
    np.testing.assert_allclose(lrs, closed, rtol=0, atol=1e-12)
    # torch.optim.lr_scheduler.CosineAnnealingLR(T_max=5, eta_min=0.1) from lr 1.0:
    torch_values = [
        1.0,
        0.914057647469,
        0.689057647469,
        0.410942352531,
        0.185942352531,
        0.1,
        0.185942352531,
        0.410942352531,
    ]
    np.testing.assert_allclose(lrs, torch_values, rtol=0, atol=1e-11)


def test_one_cycle_matches_torch_with_momentum_cycling():
    lrs, momenta = _lrs(lambda o: OneCycleLR(o, max_lr=0.1, total_steps=10), 10)
    # torch.optim.lr_scheduler.OneCycleLR(max_lr=0.1, total_steps=10), SGD(momentum=0.9), 10 steps:
    np.testing.assert_allclose(
        lrs,
        [
            0.004,
            0.052,
            0.1,
            0.095048463201,
            0.081174565395,
            0.061126202194,
            0.038874197806,
            0.018825834605,
            0.004951936799,
            4e-07,
            0.004951936799,
        ],
        rtol=0,
        atol=1e-11,
    )
    np.testing.assert_allclose(
        momenta,
        [
            0.95,
            0.9,
            0.85,
            0.854951556605,
            0.868825509907,
            0.888873953302,
            0.911126046698,
            0.931174490093,
            0.945048443395,
            0.95,
            0.945048443395,
        ],
        rtol=0,
        atol=1e-11,
    )


def test_one_cycle_three_phase_linear_cycles_adam_beta1():
    lrs, betas = _lrs(
        lambda o: OneCycleLR(o, max_lr=0.1, total_steps=10, three_phase=True, anneal_strategy="linear"), 9, "adam"
    )
    np.testing.assert_allclose(
        lrs,
        [0.004, 0.052, 0.1, 0.052, 0.004, 0.00320008, 0.00240016, 0.00160024, 0.00080032, 4e-07],
        rtol=0,
        atol=1e-11,
    )
    np.testing.assert_allclose(betas, [0.95, 0.9, 0.85, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95], rtol=0, atol=1e-11)


def test_one_cycle_from_epochs_and_steps_per_epoch():
    make = lambda o: OneCycleLR(
        o,
        max_lr=0.1,
        epochs=2,
        steps_per_epoch=4,
        pct_start=0.25,
        div_factor=10,
        final_div_factor=100,
        cycle_momentum=False,
    )
    lrs, momenta = _lrs(make, 7)
    np.testing.assert_allclose(
        lrs, [0.01, 0.1, 0.093307968919, 0.075025, 0.05005, 0.025075, 0.006792031081, 0.0001], rtol=0, atol=1e-11
    )
    assert set(momenta) == {0.9}


def test_one_cycle_refuses_to_run_past_its_end_and_needs_momentum():
    p = Tensor([0.0], requires_grad=True)
    schedule = OneCycleLR(SGD([p], lr=0.1, momentum=0.9), max_lr=0.1, total_steps=3)
    for _ in range(3):
        schedule.step()
    with pytest.raises(ValueError, match="stepped 4 times but total_steps is 3"):
        schedule.step()
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        OneCycleLR(SGD([p], lr=0.1), max_lr=0.1, total_steps=3)
    with pytest.raises(ValueError, match="total_steps, or both epochs and steps_per_epoch"):
        OneCycleLR(SGD([p], lr=0.1, momentum=0.9), max_lr=0.1, epochs=3)


def test_schedule_state_dict_resumes():
    p = Tensor([0.0], requires_grad=True)
    opt = SGD([p], lr=1.0)
    schedule = StepLR(opt, step_size=1, gamma=0.5)
    schedule.step()
    schedule.step()
    other_opt = SGD([p], lr=1.0)
    other = StepLR(other_opt, step_size=1, gamma=0.5)
    other.load_state_dict(schedule.state_dict())
    assert other_opt.lr == 0.25 and other.last_epoch == 2


# --- the Trainer -------------------------------------------------------------------------------
def blobs(n=96, seed=0):
    """Two well separated Gaussian blobs: class 0 around (-2, -2), class 1 around (2, 2)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    points = rng.standard_normal((n, 2)) * 0.5 + np.where(labels[:, None] == 1, 2.0, -2.0)
    return points.astype(np.float32), labels.astype(np.int64)


def batches(points, labels, size=32):
    return [(Tensor(points[i : i + size]), Tensor(labels[i : i + size])) for i in range(0, len(points), size)]


def make_trainer(lr=0.05, **kwargs):
    seed_everything(0)
    model = Sequential(Linear(2, 8), Tanh(), Linear(8, 2))
    optimizer = SGD(model.parameters(), lr=lr, momentum=0.9)
    return Trainer(model, optimizer, CrossEntropyLoss(), **kwargs)


def test_fit_returns_a_per_epoch_history_and_learns():
    trainer = make_trainer()
    data = batches(*blobs())
    history = trainer.fit(data, epochs=4, val_loader=data)
    assert set(history) == {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert all(len(values) == 4 for values in history.values())
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_accuracy"][-1] == 1.0
    assert trainer.epoch == 4
    again = trainer.fit(data, epochs=2)
    assert len(again["train_loss"]) == 6 and math.isnan(again["val_loss"][-1]), "nan: not measured"


def test_evaluate_matches_a_hand_computed_loss_and_accuracy():
    trainer = make_trainer()
    points, labels = blobs()
    result = trainer.evaluate(batches(points, labels, size=40))  # batches of 40, 40, 16: weighted mean
    logits = trainer.model(Tensor(points)).data.astype(np.float64)
    log_probs = logits - logits.max(1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
    assert result["loss"] == pytest.approx(-log_probs[np.arange(len(labels)), labels].mean(), rel=1e-5)
    assert result["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == labels))


class Recorder(Module):
    """A model that notes the mode and grad mode it was called in."""

    def __init__(self):
        super().__init__()
        self.layer = Linear(2, 2)
        self.drop = Dropout(0.5)
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, is_grad_enabled()))
        return self.layer(self.drop(x))


def test_evaluate_runs_in_eval_mode_without_a_graph_and_restores_training_mode():
    model = Recorder()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), CrossEntropyLoss())
    data = batches(*blobs(n=8), size=4)
    first = trainer.evaluate(data)
    assert trainer.evaluate(data) == first, "dropout is off in eval mode, so evaluation is deterministic"
    assert model.calls == [(False, False)] * 4
    assert model.training is True
    trainer.train_epoch(data)
    assert model.calls[-1] == (True, True)


def test_callback_events_describe_the_run():
    trainer = make_trainer()
    data = batches(*blobs(n=80), size=32)  # 32, 32, 16
    events = []
    trainer.fit(data, epochs=2, callback=events.append)
    assert [(e.kind, e.epoch, e.batch) for e in events] == [
        ("batch", 1, 1),
        ("batch", 1, 2),
        ("batch", 1, 3),
        ("epoch", 1, 3),
        ("batch", 2, 1),
        ("batch", 2, 2),
        ("batch", 2, 3),
        ("epoch", 2, 3),
    ]
    assert all(isinstance(e, TrainEvent) and e.epochs == 2 and e.batches == 3 for e in events)
    assert [e.samples for e in events[:4]] == [32, 64, 80, 80]
    batch_losses = [e.loss for e in events[:3]]
    assert events[2].mean_loss == pytest.approx(
        (32 * batch_losses[0] + 32 * batch_losses[1] + 16 * batch_losses[2]) / 80
    )
    assert events[3].loss == pytest.approx(events[2].mean_loss) == pytest.approx(trainer.history["train_loss"][0])
    assert all(e.seconds > 0 for e in events) and events[1].seconds >= events[0].seconds
    assert events[3].metrics["train_accuracy"] == trainer.history["train_accuracy"][0]
    assert events[0].metrics == {}


def test_callback_returning_true_at_an_epoch_stops_fit():
    trainer = make_trainer()
    history = trainer.fit(batches(*blobs()), epochs=10, callback=lambda e: e.kind == "epoch" and e.epoch == 2)
    assert len(history["train_loss"]) == 2 and trainer.epoch == 2


def test_schedules_are_stepped_per_batch_or_per_epoch():
    data = batches(*blobs(n=96), size=32)  # 3 batches per epoch
    trainer = make_trainer(lr=0.1)
    trainer.scheduler = StepLR(trainer.optimizer, step_size=1, gamma=0.5)
    trainer.fit(data, epochs=3)
    assert trainer.scheduler.last_epoch == 3
    assert trainer.history["lr"] == [0.1, 0.05, 0.025]
    trainer = make_trainer()
    trainer.scheduler = OneCycleLR(trainer.optimizer, max_lr=0.1, epochs=2, steps_per_epoch=3)
    lrs = []
    trainer.fit(data, epochs=2, callback=lambda e: lrs.append(e.lr) if e.kind == "batch" else None)
    assert trainer.scheduler.last_epoch == 6
    assert lrs == [trainer.scheduler.lr_at(t) for t in range(6)], "each event reports the lr its batch used"
    assert lrs[0] == pytest.approx(0.1 / 25) and lrs[-1] == pytest.approx(0.1 / 25 / 1e4)


def test_grad_clip_limits_each_update():
    points, labels = blobs(n=32)
    data = [(Tensor(points * 1000), Tensor(labels))]  # huge inputs, huge gradients
    clipped = make_trainer(lr=1.0, grad_clip=0.5)
    clipped.optimizer.momentum = 0.0
    before = np.concatenate([p.data.ravel() for p in clipped.optimizer.params])
    clipped.train_epoch(data)
    after = np.concatenate([p.data.ravel() for p in clipped.optimizer.params])
    assert np.linalg.norm(after - before) == pytest.approx(0.5, rel=1e-4), "lr * max_norm"


def test_a_nan_loss_stops_training_naming_epoch_and_batch():
    trainer = make_trainer()
    calls = {"n": 0}
    loss = CrossEntropyLoss()

    def poisoned(outputs, targets):
        calls["n"] += 1
        value = loss(outputs, targets)
        return value * float("nan") if calls["n"] == 5 else value  # epoch 2, batch 2 (3 batches per epoch)

    trainer.loss_fn = poisoned
    with pytest.raises(TrainingDivergedError, match=r"epoch 2, batch 2 .*Lower the learning rate") as info:
        trainer.fit(batches(*blobs()), epochs=3)
    assert (info.value.epoch, info.value.batch, info.value.lr) == (2, 2, 0.05)
    assert math.isnan(info.value.loss)


def test_a_too_large_learning_rate_is_reported_as_divergence():
    trainer = make_trainer(lr=1e30)
    trainer.loss_fn = MSELoss()
    rng = np.random.default_rng(0)
    data = [(Tensor(rng.standard_normal((16, 2)) * 100), Tensor(rng.standard_normal((16, 2)) * 100))] * 4
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(TrainingDivergedError, match="try 1e\\+29"):
        trainer.fit(data, epochs=3)


def test_trainer_refuses_bad_settings():
    model = Linear(2, 2)
    optimizer = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="grad_clip"):
        Trainer(model, optimizer, CrossEntropyLoss(), grad_clip=0)
    other = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="different optimizer"):
        Trainer(model, optimizer, CrossEntropyLoss(), scheduler=StepLR(other, 1))
    trainer = Trainer(model, optimizer, CrossEntropyLoss())
    with pytest.raises(ValueError, match="epochs >= 1"):
        trainer.fit([], epochs=0)
    with pytest.raises(ValueError, match="no batches"):
        trainer.fit([], epochs=1)
    with pytest.raises(ValueError, match="no batches"):
        trainer.evaluate([])


def test_accuracy_for_class_scores_and_single_logits():
    scores = np.array([[0.1, 0.9], [2.0, -1.0], [0.0, 3.0], [5.0, 1.0]])
    assert accuracy(scores, np.array([1, 0, 0, 0])) == 0.75
    logits = np.array([[1.5], [-0.2], [0.3], [-4.0]])
    assert accuracy(logits, np.array([[1.0], [0.0], [0.0], [0.0]])) == 0.75
    assert math.isnan(accuracy(scores, scores)), "regression targets: no accuracy"


def test_seeded_runs_are_identical():
    def run():
        trainer = make_trainer()  # seeds, then builds the model
        trainer.model = Sequential(Linear(2, 8), Dropout(0.3), ReLU(), Linear(8, 2))
        trainer.optimizer = Adam(trainer.model.parameters(), lr=0.01)
        history = trainer.fit(batches(*blobs()), epochs=2)
        return history["train_loss"], [p.data.copy() for p in trainer.model.parameters()]

    (loss_a, weights_a), (loss_b, weights_b) = run(), run()
    assert loss_a == loss_b
    assert all(np.array_equal(a, b) for a, b in zip(weights_a, weights_b))


# --- checkpoints -------------------------------------------------------------------------------
def test_checkpoint_gives_identical_predictions_in_a_fresh_model(tmp_path):
    trainer = make_trainer()
    trainer.fit(batches(*blobs()), epochs=2)
    path = save_checkpoint(tmp_path / "run.npz", trainer.model, trainer.optimizer)
    seed_everything(123)
    fresh = Sequential(Linear(2, 8), Tanh(), Linear(8, 2))
    x = Tensor(np.random.default_rng(5).standard_normal((10, 2)))
    assert not np.array_equal(fresh(x).data, trainer.model(x).data)
    load_checkpoint(path, fresh)
    assert np.array_equal(fresh(x).data, trainer.model(x).data)


def test_checkpoint_is_plain_npz_without_pickles(tmp_path):
    trainer = make_trainer()
    path = trainer.save_checkpoint(tmp_path / "run.npz", run_name="blobs", config={"lr": 0.05, "sizes": [2, 8, 2]})
    with np.load(path, allow_pickle=False) as archive:
        keys = set(archive.files)
        assert all(archive[key].dtype != object for key in keys)
    assert {
        "model/0.weight",
        "model/0.bias",
        "model/2.weight",
        "optimizer/lr",
        "optimizer/0.momentum_buffer",
        "meta/format",
        "meta/epoch",
        "meta/run_name",
        "meta/config/lr",
    } <= keys
    assert zipfile.is_zipfile(path)
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"], "no temporary file left behind"


def test_trainer_checkpoint_resumes_training_exactly(tmp_path):
    data = batches(*blobs())
    straight = make_trainer()
    straight.scheduler = StepLR(straight.optimizer, step_size=1, gamma=0.5)
    straight.fit(data, epochs=4)

    first = make_trainer()
    first.scheduler = StepLR(first.optimizer, step_size=1, gamma=0.5)
    first.fit(data, epochs=2)
    first.save_checkpoint(tmp_path / "half.npz", note="after two epochs")

    seed_everything(99)
    model = Sequential(Linear(2, 8), Tanh(), Linear(8, 2))
    optimizer = SGD(model.parameters(), lr=0.5, momentum=0.9)
    resumed = Trainer(model, optimizer, CrossEntropyLoss(), scheduler=StepLR(optimizer, step_size=1, gamma=0.5))
    metadata = resumed.load_checkpoint(tmp_path / "half.npz")
    assert metadata["note"] == "after two epochs" and metadata["epoch"] == 2
    assert resumed.epoch == 2 and resumed.history["train_loss"] == first.history["train_loss"]
    assert optimizer.lr == 0.05 * 0.25
    resumed.fit(data, epochs=2)
    assert resumed.history["train_loss"] == straight.history["train_loss"]
    for a, b in zip(resumed.model.parameters(), straight.model.parameters()):
        assert np.array_equal(a.data, b.data)


def test_checkpoint_metadata_round_trips(tmp_path):
    model = Linear(2, 2)
    meta = {"epoch": 3, "accuracy": 0.975, "name": "xor", "done": True, "curve": [0.5, 0.25], "nested": {"a": {"b": 1}}}
    save_checkpoint(tmp_path / "m.npz", model, **meta)
    assert load_checkpoint(tmp_path / "m.npz", Linear(2, 2)) == meta


def test_checkpoint_errors_are_clear(tmp_path):
    model = Linear(2, 2)
    with pytest.raises(TypeError, match="metadata 'owner' is a NoneType"):
        save_checkpoint(tmp_path / "bad.npz", model, owner=None)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError, match="No checkpoint at"):
        load_checkpoint(tmp_path / "missing.npz", model)
    np.savez(tmp_path / "plain.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a TinyTorch checkpoint"):
        load_checkpoint(tmp_path / "plain.npz", model)
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(ValueError, match="single array"):
        load_checkpoint(tmp_path / "single.npy", model)
    np.savez(
        tmp_path / "pickled.npz", **{"meta/format": np.array(1), "model/weight": np.array([{"x": 1}], dtype=object)}
    )
    with pytest.raises(ValueError, match="not a TinyTorch checkpoint .*allow_pickle"):
        load_checkpoint(tmp_path / "pickled.npz", model)
    np.save(tmp_path / "objects.npy", np.array([{"code": "evil"}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a TinyTorch checkpoint"):
        load_checkpoint(tmp_path / "objects.npy", model)
    save_checkpoint(tmp_path / "model_only.npz", model)
    with pytest.raises(ValueError, match="holds no optimizer state"):
        load_checkpoint(tmp_path / "model_only.npz", model, SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="0.weight|weight"):
        load_checkpoint(tmp_path / "model_only.npz", Sequential(Linear(2, 3)))
