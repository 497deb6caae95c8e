"""Plain data: what probes may return, and the wire that carries it to the judge."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from coursekit.exercise.probing import attempt, attempt_keeping, describe_value, guarded
from coursekit.exercise.wire import PlainDataError, consistent, decode, encode, round_trip


class Liar(np.ndarray):
    def __array_function__(self, func, types, args, kwargs):
        return True

    def __eq__(self, other):
        return True


def test_values_are_described_by_kind_type_and_shape():
    assert describe_value(None) == {"kind": "none"}
    assert describe_value(np.float32(1.5)) == {"kind": "float", "type": "float32", "value": 1.5}
    assert describe_value(3)["kind"] == "int"
    assert describe_value(True) == {"kind": "bool", "value": True}
    listed = describe_value([1.0, (2, "a")])
    assert listed["kind"] == "list" and listed["items"][1]["type"] == "tuple"
    tensor = describe_value(torch.ones(2, 3, requires_grad=True))
    assert (tensor["type"], tensor["dtype"], tensor["shape"], tensor["requires_grad"]) == (
        "Tensor", "float32", [2, 3], True)
    assert describe_value(object())["kind"] == "other"


def test_an_array_subclass_that_lies_becomes_a_plain_array():
    described = describe_value(np.zeros(3).view(Liar))
    assert type(described["value"]) is np.ndarray
    assert described["type"] == "Liar"
    assert not np.allclose(round_trip(described)["value"], 1.0)


def test_object_arrays_are_not_data():
    assert describe_value(np.array([object()]))["kind"] == "other"
    with pytest.raises(PlainDataError, match="not numeric"):
        encode(np.array(["a"], dtype=object))


def test_the_wire_round_trips_nested_plain_data():
    value = {"a": [1, 2.5, None, True, "x", np.arange(6).reshape(2, 3)], "b": {"c": np.nan}}
    back = round_trip(value)
    assert back["a"][:5] == [1, 2.5, None, True, "x"]
    np.testing.assert_array_equal(back["a"][5], np.arange(6).reshape(2, 3))
    assert np.isnan(back["b"]["c"])


@pytest.mark.parametrize("bad", [object(), {1: 2}, {"$array": "a0"}, lambda: 0])
def test_only_plain_data_is_encoded(bad):
    with pytest.raises(PlainDataError):
        encode(bad)


def test_decode_never_unpickles_and_checks_its_references():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    archive = io.BytesIO()
    np.savez(archive, a0=np.array([{"x": 1}], dtype=object))
    with pytest.raises(PlainDataError):
        decode(json.dumps({"$array": "a0"}), archive.getvalue())
    with pytest.raises(PlainDataError, match="missing array"):
        decode(json.dumps({"$array": "a9"}), encode([])[1])
    with pytest.raises(PlainDataError, match="not JSON"):
        decode("{", encode([])[1])
    with pytest.raises(PlainDataError, match="bad array archive"):
        decode("[]", b"not a zip")


def test_decode_refuses_data_too_deep_or_too_large():
    deep = "[" * 40 + "]" * 40
    with pytest.raises(PlainDataError, match="deeper"):
        decode(deep, encode([])[1])
    text, arrays = encode({"a": np.zeros(6_000_000, dtype=np.uint8)})
    with pytest.raises(PlainDataError, match="array elements"):
        decode(text, arrays)


def test_attempt_reports_exceptions_as_data():
    def stub(x):
        raise NotImplementedError("01-x")

    def below(x):
        raise NotImplementedError
        return x  # noqa: B012 -- code under the stub's raise

    def broken(x):
        return 1 / 0

    assert attempt(stub, 1)["stub"] and not attempt(stub, 1)["below_raise"]
    assert attempt(below, 1)["below_raise"]
    crash = attempt(broken, 1)
    assert (crash["kind"], crash["type"]) == ("raised", "ZeroDivisionError")
    assert "return 1 / 0" in crash["frame"]
    assert attempt(42)["kind"] == "not_callable"


def test_an_error_raised_inside_a_library_is_shown_at_the_students_line():
    # The student's line, not NumPy's (Python source, and a compiled module's .pyx), nor
    # a frame of the standard library.
    def size_from_data(first):
        size = max(first.max(), 0) + 1
        return size

    def draw(p):
        return np.random.default_rng(0).choice(3, p=p)

    def parse(text):
        return json.loads(text)

    assert attempt(size_from_data, np.array([], dtype=int))["frame"].endswith(
        ", in size_from_data: size = max(first.max(), 0) + 1")
    assert attempt(draw, np.array([0.5, 0.6, 0.1]))["frame"].endswith(
        ", in draw: return np.random.default_rng(0).choice(3, p=p)")
    assert attempt(parse, "{")["frame"].endswith(", in parse: return json.loads(text)")


def test_attempt_keeping_notices_arguments_changed_in_place():
    def shift_in_place(z, y):  # a softmax written with z -= z.max(...)
        z -= z.max(axis=1, keepdims=True)
        return z

    def pure(z, y):
        return z - z.max(axis=1, keepdims=True)

    def sentinel(curve, patience):
        curve.append(float("inf"))
        return 0

    z, y = np.arange(6.0).reshape(2, 3), np.array([0, 2])
    got = attempt_keeping(shift_in_place, (z.copy(), y.copy()), ("z", "y"))
    assert got["kind"] == "changed" and got["names"] == ["z"]
    assert got["result"]["kind"] == "array" and consistent(round_trip(got))
    kept = attempt_keeping(pure, (z.copy(), y.copy()), ("z", "y"))
    assert kept["kind"] == "array" and np.array_equal(kept["value"], pure(z, y))
    assert attempt_keeping(shift_in_place, (z.copy(), y), ("", "y"))["kind"] == "array"
    assert attempt_keeping(sentinel, ([1.0, 0.5], 2), ("curve", ""))["names"] == ["curve"]
    nan = np.array([np.nan, 1.0])
    assert attempt_keeping(lambda a: a.sum(), (nan,), ("a",))["kind"] == "float"  # nan == nan


def test_attempt_keeping_lets_an_argument_become_the_result_when_allowed():
    def relu_backward_in_place(x, dout):  # CS231n's dx = dout; dx[x <= 0] = 0
        dout[x <= 0] = 0.0
        return dout

    def scales_dout(x, dout):
        dx = dout * (x > 0)
        dout *= 2.0
        return dx

    x, dout = np.array([-1.0, 2.0]), np.array([3.0, 4.0])
    assert attempt_keeping(relu_backward_in_place, (x, dout.copy()), ("", "dout"),
                           may_become_result=("dout",))["kind"] == "array"
    assert attempt_keeping(relu_backward_in_place, (x, dout.copy()), ("", "dout"))["kind"] \
        == "changed"
    assert attempt_keeping(scales_dout, (x, dout.copy()), ("", "dout"),
                           may_become_result=("dout",))["names"] == ["dout"]


def test_attempt_keeping_reports_a_raise_or_a_non_function_as_attempt_does():
    def broken(z):
        z *= 2.0
        raise ValueError("boom")

    assert attempt_keeping(broken, (np.ones(2),), ("z",))["kind"] == "raised"
    assert attempt_keeping(42, (np.ones(2),), ("z",))["kind"] == "not_callable"
    assert attempt_keeping(lambda z, k=0: z + k, (np.ones(2),), ("z",),
                           kwargs={"k": 1})["kind"] == "array"


def test_a_guarded_probe_turns_its_own_crash_into_data():
    @guarded
    def probe(inputs, fn):
        return fn.missing_attribute

    result = probe({}, object())
    assert result["kind"] == "raised" and result["type"] == "AttributeError"
