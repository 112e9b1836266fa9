"""Learning without forgetting (Li & Hoiem, 2016)."""

from __future__ import annotations

from keras import ops

from keras_transfer.losses import distillation_loss
from keras_transfer.strategies._source import SourceTask
from keras_transfer.strategies.base import register_strategy


@register_strategy("lwf")
class LwF(SourceTask):
    """``L = L_t + λ·KD``: the frozen source model distilled into the source head.

    The kept source head (on the fine-tuned features) is pulled towards a
    frozen copy of the source model's outputs (``T²·KL`` at temperature
    ``T``) on the target inputs and, with ``source_inputs`` and source rows
    at hand, on as many source inputs (their labels unused). For the first
    ``warmup_epochs`` epochs only the new head trains (Li & Hoiem's
    warm-up).

    Args:
        temperature: distillation temperature ``T``.
        warmup_epochs: epochs of the new head alone.
        source_inputs: also distil on source inputs when there are any.

    Example:
    >>> from keras_transfer.strategies import get_strategy
    >>> get_strategy("lwf", temperature=3.0).source_rows
    'inputs'
    """

    needs_source_head = True
    needs_source_copy = True
    needs_inputs = True
    task_rows = "target"
    predicts_source = True

    def __init__(
        self,
        temperature: float = 2.0,
        warmup_epochs: int = 1,
        source_inputs: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if float(temperature) <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}.")
        if int(warmup_epochs) < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs!r}.")
        self.temperature = float(temperature)
        self.warmup_epochs = int(warmup_epochs)
        self.source_inputs = bool(source_inputs)
        self.source_rows = "inputs" if self.source_inputs else "none"

    def source_outputs(self, features, training=False, x=None):
        self._require("source_head", "source_model")
        return {"source_logits": self.head_logits(features, training)}

    def call(self, features, logits, lam, training=False, x=None):
        return {"teacher_logits": self.reference_logits(x)}

    def adaptation_loss(self, outputs, batch):
        kd = distillation_loss(
            outputs["source_logits"],
            outputs["teacher_logits"],
            temperature=self.temperature,
        )
        return ops.cast(batch["lambda"], "float32") * ops.cast(kd, "float32")

    def get_config(self):
        return {
            **super().get_config(),
            "temperature": self.temperature,
            "warmup_epochs": self.warmup_epochs,
            "source_inputs": self.source_inputs,
        }
