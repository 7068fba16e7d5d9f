"""Module 03: Linear, Sequential and Dropout behave like PyTorch's and register with module 02's Module."""

import math

import numpy as np
import pytest

from tinytorch import Tensor, manual_seed
from tinytorch.nn import Dropout, Linear, Module, Parameter, ReLU, Sequential, Sigmoid
from tinytorch.nn.init import kaiming_uniform, xavier_uniform

pytestmark = pytest.mark.m03


class Block(Module):
    def __init__(self):
        super().__init__()
        self.fc = Linear(3, 4)
        self.scale = Parameter(np.ones(4))
        self.register_buffer("running", np.zeros(4))

    def forward(self, x):
        return self.fc(x) * self.scale


class Net(Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.body = Sequential(Linear(4, 4), ReLU(), Dropout(0.5), Linear(4, 2))
        self.note = "plain attributes are not registered"

    def forward(self, x):
        return self.body(self.first(x))


# --- layers register with module 02's Module -----------------------------------------------------


def test_named_parameters_follow_pytorchs_order_with_dotted_names():
    # As in PyTorch: modules in pre-order, each module's own parameters in assignment order.
    names = [name for name, _ in Net().named_parameters()]
    assert names == [
        "first.scale",
        "first.fc.weight",
        "first.fc.bias",
        "body.0.weight",
        "body.0.bias",
        "body.3.weight",
        "body.3.bias",
    ]


def test_parameters_children_modules_and_buffers():
    net = Net()
    assert len(list(net.parameters())) == 7
    assert all(isinstance(p, Parameter) for p in net.parameters())
    assert [type(c).__name__ for c in net.children()] == ["Block", "Sequential"]
    assert [name for name, _ in net.named_modules()] == [
        "",
        "first",
        "first.fc",
        "body",
        "body.0",
        "body.1",
        "body.2",
        "body.3",
    ], "every layer of the Sequential is a registered Module, the ReLU too"
    assert [type(m).__name__ for m in net.modules()][:3] == ["Net", "Block", "Linear"]
    assert [name for name, _ in net.named_buffers()] == ["first.running"]
    assert len(list(net.buffers())) == 1
    assert "note" not in net._parameters and net.note.startswith("plain")


def test_module_and_parameter_are_module_02s_whatever_the_import_path():
    from tinytorch.nn import module

    assert Module is module.Module and Parameter is module.Parameter
    assert isinstance(Linear(1, 1), module.Module) and isinstance(Linear(1, 1).weight, module.Parameter)


def test_shared_parameters_and_modules_are_listed_once():
    shared = Linear(2, 2)
    model = Sequential(shared, shared)
    assert len(list(model.parameters())) == 2
    assert [name for name, _ in model.named_modules()] == ["", "0"]


# --- modes, gradients, precision ----------------------------------------------------------------


def test_train_and_eval_reach_every_submodule():
    net = Net()
    assert net.eval() is net
    assert all(m.training is False for m in net.modules())
    net.train()
    assert all(m.training is True for m in net.modules())
    net.body.train(False)
    assert net.training and not net.body[2].training


# --- state_dict ---------------------------------------------------------------------------------


def test_state_dict_round_trip_gives_identical_predictions():
    manual_seed(0)
    source, target = Net().eval(), Net().eval()
    x = Tensor(np.random.default_rng(0).standard_normal((5, 3)))
    assert not np.array_equal(source(x).data, target(x).data)
    state = source.state_dict()
    assert set(state) == {name for name, _ in source.named_parameters()} | {"first.running"}
    weight_array = target.first.fc.weight.data
    target.load_state_dict(state)
    np.testing.assert_array_equal(source(x).data, target(x).data)
    assert target.first.fc.weight.data is weight_array, "loaded in place"


# --- Linear -------------------------------------------------------------------------------------


def test_linear_shapes_and_formula():
    layer = Linear(5, 3)
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (3,)
    x = np.random.default_rng(1).standard_normal((7, 5)).astype(np.float32)
    np.testing.assert_allclose(layer(Tensor(x)).data, x @ layer.weight.data.T + layer.bias.data, rtol=1e-5, atol=1e-6)
    batch = np.ones((2, 4, 5), dtype=np.float32)
    assert layer(batch).shape == (2, 4, 3), "any leading dimensions, and plain arrays, are accepted"
    assert Linear(5, 3, bias=False).bias is None
    assert len(list(Linear(5, 3, bias=False).parameters())) == 1


def test_linear_input_size_error_names_the_layer_and_shape():
    with pytest.raises(ValueError, match=r"in_features=5.*\(2, 4\)"):
        Linear(5, 3)(Tensor(np.ones((2, 4))))


def test_linear_refuses_bad_sizes_and_unknown_init():
    with pytest.raises(ValueError, match="positive"):
        Linear(0, 3)
    with pytest.raises(ValueError, match="kaiming"):
        Linear(2, 3, init="orthogonal")


@pytest.mark.checks("Linear.__init__")  # the weight and the bias it draws; kaiming_uniform has tests of its own
def test_default_init_is_pytorchs_kaiming_uniform():
    manual_seed(1)
    layer = Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for values in (layer.weight.data, layer.bias.data):
        assert values.dtype == np.float32
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.95 * bound, "the whole range is used"
    assert math.isclose(layer.weight.data.std(), bound / math.sqrt(3), rel_tol=0.02)


def test_xavier_init_and_helpers():
    manual_seed(2)
    layer = Linear(300, 100, init="xavier")
    bound = math.sqrt(6 / 400)
    assert np.abs(layer.weight.data).max() <= bound
    assert math.isclose(layer.weight.data.std(), bound / math.sqrt(3), rel_tol=0.02)
    assert not layer.bias.data.any()
    he = kaiming_uniform((200, 200), fan_in=200, a=0.0)
    assert math.isclose(he.std(), math.sqrt(2 / 200), rel_tol=0.02), "a=0 is He init: variance 2 / fan_in"
    assert xavier_uniform((3, 4), fan_in=4, fan_out=3, dtype=np.float64).dtype == np.float64


def test_manual_seed_makes_initialisation_repeatable():
    manual_seed(7)
    first = Linear(3, 3).weight.data.copy()
    manual_seed(7)
    np.testing.assert_array_equal(Linear(3, 3).weight.data, first)


def test_linear_repr():
    assert repr(Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"


# --- Sequential ---------------------------------------------------------------------------------


def test_sequential_chains_its_layers():
    model = Sequential(Linear(3, 4), ReLU(), Linear(4, 1), Sigmoid())
    x = Tensor(np.random.default_rng(3).standard_normal((6, 3)))
    hidden = np.maximum(x.data @ model[0].weight.data.T + model[0].bias.data, 0)
    logits = hidden @ model[2].weight.data.T + model[2].bias.data
    np.testing.assert_allclose(model(x).data, 1 / (1 + np.exp(-logits)), rtol=1e-5)
    assert len(model) == 4 and list(model)[1].__class__ is ReLU and model[-1].__class__ is Sigmoid
    assert isinstance(model[1:3], Sequential) and len(model[1:3]) == 2 and model[1:3][1] is model[2]
    assert Sequential([Linear(1, 1), ReLU()])(Tensor([[1.0]])).shape == (1, 1)


def test_sequential_keeps_its_layers_in_one_list_the_registered_modules():
    model = Sequential(Linear(2, 3), ReLU(), Linear(3, 1))
    assert list(model._modules) == ["0", "1", "2"]
    assert list(model) == list(model._modules.values()) == list(model.children())
    own = set(vars(model)) - set(model._modules)  # each layer is also an attribute "0", "1", ..., read at full speed
    assert own == {"_parameters", "_buffers", "_modules", "training"}, "no second list of steps"


def test_sequential_refuses_what_is_not_a_module():
    with pytest.raises(TypeError, match="step 1 is a int, not a Module"):
        Sequential(Linear(1, 1), 42)
    with pytest.raises(TypeError, match=r"step 0 is a function, not a Module: .*ReLU\(\)"):
        Sequential(lambda x: x.clip(min=0), Linear(1, 1))


def test_sequential_repr_lists_every_step():
    text = repr(Sequential(Linear(2, 3), ReLU(), Sequential(Linear(3, 1))))
    assert text == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Linear(in_features=3, out_features=1, bias=True)\n"
        "  )\n"
        ")"
    )


# --- Dropout ------------------------------------------------------------------------------------


def test_dropout_masks_and_rescales_in_training():
    manual_seed(3)
    drop = Dropout(0.25)
    x = Tensor(np.ones((200, 200), dtype=np.float32))
    out = drop(x).data
    assert set(np.unique(out).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.01
    assert abs(out.mean() - 1.0) < 0.02, "the expected value is unchanged"
    assert out.dtype == np.float32


def test_dropout_is_the_identity_in_eval_mode_and_at_p0():
    x = Tensor(np.random.default_rng(4).standard_normal((10, 10)))
    np.testing.assert_array_equal(Dropout(0.5).eval()(x).data, x.data)
    np.testing.assert_array_equal(Dropout(0.0)(x).data, x.data)
    assert not np.any(Dropout(1.0)(x).data)


def test_train_eval_switches_dropout_inside_a_model():
    model = Sequential(Dropout(0.5))
    x = Tensor(np.ones((50, 50)))
    assert np.any(model(x).data == 0)
    model.eval()
    np.testing.assert_array_equal(model(x).data, x.data)
    model.train()
    assert np.any(model(x).data == 0)


def test_dropout_refuses_bad_probability():
    with pytest.raises(ValueError, match="between 0 and 1"):
        Dropout(1.5)
    assert repr(Dropout(0.1)) == "Dropout(p=0.1)"
