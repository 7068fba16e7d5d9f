"""Module 02: Module finds every parameter, buffer and submodule, and the activations are Modules.

Only modules 01 and 02 are used here (module 02 is tested before module 03 exists), so the models are
built from a small elementwise layer with weights, `Scale`, and the activation layers.
"""

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.nn import GELU, LogSoftmax, Module, Parameter, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.nn.activations import Activation

pytestmark = pytest.mark.m02


class Scale(Module):
    """y = x * weight + bias, elementwise."""

    def __init__(self, size=4):
        super().__init__()
        self.weight = Parameter(np.random.standard_normal(size))
        self.bias = Parameter(np.random.standard_normal(size))

    def forward(self, x):
        return x * self.weight + self.bias

    def extra_repr(self):
        return f"size={self.weight.shape[0]}"


class Block(Module):
    def __init__(self):
        super().__init__()
        self.fc = Scale(4)
        self.scale = Parameter(np.ones(4))
        self.register_buffer("running", np.zeros(4))

    def forward(self, x):
        return self.fc(x) * self.scale


class Net(Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.act = ReLU()
        self.last = Scale(4)
        self.note = "plain attributes are not registered"

    def forward(self, x):
        return self.last(self.act(self.first(x)))


# --- Parameter ----------------------------------------------------------------------------------


def test_parameter_requires_grad_and_is_float32_by_default():
    p = Parameter(np.ones((2, 2)))
    assert isinstance(p, Tensor) and p.requires_grad and p.dtype == np.float32
    assert Parameter([1, 2, 3]).dtype == np.float32
    assert Parameter(np.ones(2), dtype=np.float64).dtype == np.float64
    assert Parameter(np.ones(2), requires_grad=False).requires_grad is False
    assert repr(Parameter([1.0])).startswith("Parameter(")


# --- registration -------------------------------------------------------------------------------


def test_named_parameters_follow_pytorchs_order_with_dotted_names():
    # As in PyTorch: modules in pre-order, each module's own parameters in assignment order.
    names = [name for name, _ in Net().named_parameters()]
    assert names == ["first.scale", "first.fc.weight", "first.fc.bias", "last.weight", "last.bias"]


def test_parameters_children_modules_and_buffers():
    net = Net()
    assert len(list(net.parameters())) == 5
    assert all(isinstance(p, Parameter) for p in net.parameters())
    assert [type(c).__name__ for c in net.children()] == ["Block", "ReLU", "Scale"]
    assert [name for name, _ in net.named_modules()] == ["", "first", "first.fc", "act", "last"]
    assert [type(m).__name__ for m in net.modules()][:3] == ["Net", "Block", "Scale"]
    assert [name for name, _ in net.named_buffers()] == ["first.running"]
    assert len(list(net.buffers())) == 1
    assert "note" not in net._parameters and net.note.startswith("plain")


def test_shared_parameters_and_modules_are_listed_once():
    class Twice(Module):
        def __init__(self):
            super().__init__()
            self.a = Scale(2)
            self.b = self.a
            self.tied = self.a.weight

    model = Twice()
    assert len(list(model.parameters())) == 2
    assert [name for name, _ in model.named_modules()] == ["", "a"]
    assert list(model._modules) == ["a", "b"], "both names are registered; the walk visits the module once"


def test_reassigning_replaces_the_registration():
    net = Block()
    net.fc = Scale(8)
    assert dict(net.named_parameters())["fc.weight"].shape == (8,)
    net.fc = None
    assert [name for name, _ in net.named_parameters()] == ["scale"]
    del net.scale
    assert list(net.parameters()) == []


def test_assigning_a_plain_tensor_to_a_parameter_name_is_refused():
    layer = Scale(2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        layer.weight = layer.weight * 2


def test_assigning_before_init_says_to_call_super_init():
    class Forgetful(Module):
        def __init__(self):
            self.act = ReLU()

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgetful()


def test_add_module_registers_a_name_that_is_not_an_identifier_and_refuses_a_non_module():
    holder = Module()
    holder.add_module("0", ReLU())
    assert [name for name, _ in holder.named_modules()] == ["", "0"]
    with pytest.raises(TypeError, match="needs a Module"):
        holder.add_module("1", np.tanh)


def test_buffers_are_reassignable_detached_and_not_parameters():
    net = Block()
    net.running = Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True) * 2
    buffer = dict(net.named_buffers())["running"]
    assert buffer.data.tolist() == [2.0, 4.0, 6.0, 8.0]
    assert not buffer.requires_grad and buffer._grad_fn is None
    assert "running" not in dict(net.named_parameters())
    with pytest.raises(ValueError, match="already a parameter"):
        net.register_buffer("scale", np.zeros(1))


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="forward"):
        Module()(Tensor([1.0]))


# --- modes, gradients, precision ----------------------------------------------------------------


def test_train_and_eval_reach_every_submodule_the_activations_included():
    net = Net()
    assert net.eval() is net
    assert all(m.training is False for m in net.modules())
    assert net.act.training is False
    net.train()
    assert all(m.training is True for m in net.modules())
    net.first.train(False)
    assert net.training and not net.first.fc.training and net.act.training


def test_zero_grad_clears_every_gradient():
    net = Net()
    for p in net.parameters():
        p.grad = Tensor(np.ones(p.shape))
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_double_and_float_cast_parameters_and_buffers_in_place():
    net = Net()
    weight = net.first.fc.weight
    net.double()
    assert net.first.fc.weight is weight, "the same Parameter object, so optimizers keep their references"
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.first.running.dtype == np.float64
    assert net(Tensor(np.ones((2, 4)), dtype=np.float64)).dtype == np.float64
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())


# --- state_dict ---------------------------------------------------------------------------------


def test_state_dict_round_trip_gives_identical_predictions():
    source, target = Net().eval(), Net().eval()
    x = Tensor(np.random.default_rng(0).standard_normal((5, 4)))
    assert not np.array_equal(source(x).data, target(x).data)
    state = source.state_dict()
    assert set(state) == {name for name, _ in source.named_parameters()} | {"first.running"}
    weight_array = target.first.fc.weight.data
    target.load_state_dict(state)
    np.testing.assert_array_equal(source(x).data, target(x).data)
    assert target.first.fc.weight.data is weight_array, "loaded in place"


def test_state_dict_holds_copies():
    net = Block()
    state = net.state_dict()
    state["fc.weight"][...] = 42.0
    assert not np.any(net.fc.weight.data == 42.0)


def test_load_state_dict_errors_name_the_key_and_write_nothing():
    net = Block()
    before = net.state_dict()
    bad = dict(before, **{"fc.bias": np.zeros(5), "fc.weight": np.ones(4)})
    with pytest.raises(ValueError, match=r"'fc.bias'.*\(4,\).*\(5,\)"):
        net.load_state_dict(bad)
    np.testing.assert_array_equal(net.fc.weight.data, before["fc.weight"])
    missing = {k: v for k, v in before.items() if k != "scale"}
    with pytest.raises(ValueError, match="missing key 'scale'"):
        net.load_state_dict(missing)
    with pytest.raises(ValueError, match="unexpected key 'extra'"):
        net.load_state_dict(dict(before, extra=np.zeros(1)))


def test_load_state_dict_non_strict_reports_missing_and_unexpected():
    net = Block()
    state = {"fc.bias": np.arange(4.0), "other": np.zeros(2)}
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert net.fc.bias.data.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert "fc.weight" in missing and unexpected == ["other"]


def test_load_state_dict_accepts_tensors_and_casts_to_the_parameter_dtype():
    net = Block()
    net.load_state_dict({k: Tensor(v, dtype=np.float64) for k, v in Block().state_dict().items()})
    assert net.fc.weight.dtype == np.float32


# --- the activation layers are Modules ----------------------------------------------------------


# Built inside the test, not at import: a layer built while the file is collected would run the
# student's Module code then, and one unwritten method would hide every test of this file.
LAYERS = {
    "ReLU": ReLU,
    "Sigmoid": Sigmoid,
    "Tanh": Tanh,
    "GELU": GELU,
    "Softmax": lambda: Softmax(dim=0),
    "LogSoftmax": LogSoftmax,
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_every_activation_is_a_module_without_parameters(name):
    layer = LAYERS[name]()
    assert isinstance(layer, Activation) and isinstance(layer, Module)
    assert list(layer.parameters()) == [] and layer.state_dict() == {}
    assert layer.eval().training is False


def test_a_model_prints_every_layer_the_activation_included():
    assert repr(Net()) == (
        "Net(\n  (first): Block(\n    (fc): Scale(size=4)\n  )\n  (act): ReLU()\n  (last): Scale(size=4)\n)"
    )


def test_one_module_class_behind_its_public_path_and_its_file():
    import tinytorch
    from tinytorch.nn import module

    assert tinytorch.nn.Module is Module is module.Module and tinytorch.nn.Parameter is Parameter
