import pytest

from gendsl.inference.engines import _TorchStepper


@pytest.fixture
def compiled_steps(monkeypatch):
    """Counts the training steps that ran through a compiled graph (``fit(compile=True)``)."""
    count, real = [0], _TorchStepper._compiled_loss

    def counting(self, rows, batch, masks):
        loss = real(self, rows, batch, masks)
        count[0] += loss is not None
        return loss

    monkeypatch.setattr(_TorchStepper, "_compiled_loss", counting)
    return count
