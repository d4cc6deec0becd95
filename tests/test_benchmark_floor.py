"""benchmark/update_floor.py: the hand-written training step it times computes the gradients autograd computes."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmark"))
import update_floor  # noqa: E402


@pytest.fixture
def networks_and_batch():
    ddpg, nets, _, rb = update_floor.torch_networks()
    return ddpg, nets, update_floor.sampled_batch(rb)


def test_hand_written_gradients_match_autograd(networks_and_batch):
    update_floor.check_by_hand(*networks_and_batch)


def test_the_check_catches_a_backward_pass_without_its_relu_mask(networks_and_batch, monkeypatch):
    backward = update_floor.backward

    def unmasked(net_layers, x, h1, h2, d_out, weight_grads=True):
        return backward(net_layers, x, torch.ones_like(h1), torch.ones_like(h2), d_out, weight_grads)

    monkeypatch.setattr(update_floor, "backward", unmasked)
    with pytest.raises(AssertionError, match="hand-written gradient differs"):
        update_floor.check_by_hand(*networks_and_batch)
