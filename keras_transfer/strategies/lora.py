"""LoRA: frozen transferred kernels plus trainable low-rank updates (Hu et al.)."""

from __future__ import annotations

from keras_transfer.freezing import add_lora
from keras_transfer.strategies._source import SourceTask
from keras_transfer.strategies.base import register_strategy


@register_strategy("lora")
class LoRAStrategy(SourceTask):
    """Every Dense / Conv kernel of the backbone gets ``W + (α/r)·A·B``, ``B = 0``.

    ``prepare_backbone`` enables Keras's own LoRA
    (``layer.enable_lora(rank, lora_alpha)``) on the transferred layers and
    freezes everything else, so only the ``A``/``B`` factors (and the new
    head) train; because ``B`` starts at zero the network starts as the
    source network, bit for bit. The source task is predicted by a frozen
    copy of the source model.

    Args:
        rank: rank ``r`` of the updates.
        alpha: scale numerator (default ``rank``: a scale of 1).

    Example:
    >>> from keras_transfer.strategies import get_strategy
    >>> get_strategy("lora", rank=2).rank
    2
    """

    needs_source_copy = True
    needs_inputs = True
    predicts_source = True

    def __init__(self, rank: int = 4, alpha: float | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rank, bool) or int(rank) != rank or rank < 1:
            raise ValueError(f"rank must be an integer >= 1, got {rank!r}.")
        self.rank = int(rank)
        self.alpha = alpha

    def prepare_backbone(self, backbone):
        """Enable LoRA on the backbone's Dense / Conv layers (in place)."""
        add_lora(backbone, rank=self.rank, alpha=self.alpha, copy=False)
        return backbone

    def source_outputs(self, features, training=False, x=None):
        if training or self.source_model is None:
            return {}
        return {"source_logits": self.reference_logits(x)}

    def get_config(self):
        return {**super().get_config(), "rank": self.rank, "alpha": self.alpha}
