"""ADDA: adversarial discriminative domain adaptation with a separate target encoder."""

from __future__ import annotations

from types import SimpleNamespace

from keras import ops

from keras_transfer._optimizers import fresh_optimizer, recompile
from keras_transfer.losses import domain_adversarial_loss
from keras_transfer.strategies._adversarial import AdversarialStrategy
from keras_transfer.strategies.base import register_strategy


@register_strategy("adda")
class ADDA(AdversarialStrategy):
    """Adversarial Discriminative Domain Adaptation (Tzeng et al., CVPR 2017).

    Two phases, as in the paper:

    1. ``before_fit`` trains the backbone and the head on the source rows
       (the *source encoder* and the classifier), keeps a snapshot of the
       backbone's weights as the frozen source encoder and freezes the head.
    2. The model's own backbone, initialised from the source encoder, is the
       *target encoder*. A domain discriminator learns to tell source
       features (from the frozen source encoder, on source rows) from target
       features (from the target encoder, on target rows); the target
       encoder is trained with the inverted-label GAN loss, i.e. to make the
       discriminator call its target features "source". The source labels
       play no part in this phase (``task_weight`` is 0) and the head stays
       as the source trained it, so ``predict`` is the source classifier on
       the target encoder's features.

    Both losses come from one ``compute_loss``: the discriminator's
    (binary cross-entropy, features held constant) plus ``λ ·`` the mapping
    loss ``mean_t −log D(f_t)``, whose discriminator pass uses constant
    (stop-gradient) discriminator weights, so it moves the target encoder
    only. There is no gradient reversal: the mapping loss is the
    asymmetric "inverted label" objective of the paper, not the minimax
    one of DANN. The source encoder is the backbone run on the snapshot
    (``stateless_call``), so no second network is built; it is a
    training-time helper, not saved with the model (``predict`` needs only
    the target encoder and the head).

    Args:
        units: hidden units of the discriminator (500-500, the paper's).
        dropout: dropout rate after each hidden layer of the discriminator.
        bsp: Batch Spectral Penalization weight on the features (0: off).
        pretrain_learning_rate: learning rate of the source phase (the
            authors' 1e-3; ``None``: the fit's learning rate), with the
            fit's optimizer otherwise.
        beta_1: the first-moment decay of the target phase's optimizer
            (Adam and the other optimizers with a ``beta_1``): the authors'
            0.5, which keeps the game balanced (at Keras's 0.9 the
            discriminator wins and the target encoder drifts away from the
            source classifier, see ``docs/strategies/adda.md``); ``None``
            keeps the optimizer's own.

    Example:
    >>> from keras_transfer import DomainAdaptiveClassifier
    >>> from keras_transfer.datasets import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(200, 200, random_state=0)
    >>> clf = DomainAdaptiveClassifier("adda", epochs=2, random_state=0)
    >>> clf.fit((Xs, ys), Xt).predict(Xt).shape
    (200,)
    >>> clf.model_.classifier.trainable  # the source classifier, kept as is
    False
    """

    needs_inputs = True

    recipe = {
        "adaptation_weight": 1.0,
        "schedule": "constant",
        "optimizer": "adam",
        "learning_rate": 2e-4,
        "source": "Tzeng et al., CVPR 2017 and the authors' code "
        "(erictzeng/adda): source network trained with Adam 1e-3, then the "
        "target encoder and a 500-500 ReLU discriminator with Adam 2e-4 and "
        "beta_1 = 0.5 (the beta_1 option; at Keras's 0.9 the discriminator "
        "won and MNIST→USPS collapsed), inverted-label mapping loss at "
        "weight 1, no ramp",
    }

    def __init__(
        self,
        units=(500, 500),
        dropout: float = 0.0,
        bsp: float = 0.0,
        pretrain_learning_rate: float | None = 1e-3,
        beta_1: float | None = 0.5,
        **kwargs,
    ):
        super().__init__(units=units, dropout=dropout, bsp=bsp, **kwargs)
        if pretrain_learning_rate is not None and not float(pretrain_learning_rate) > 0:
            raise ValueError(
                "pretrain_learning_rate must be > 0 or None, got "
                f"{pretrain_learning_rate!r}."
            )
        self.pretrain_learning_rate = (
            None if pretrain_learning_rate is None else float(pretrain_learning_rate)
        )
        if beta_1 is not None and not 0.0 <= float(beta_1) < 1.0:
            raise ValueError(f"beta_1 must be in [0, 1) or None, got {beta_1!r}.")
        self.beta_1 = None if beta_1 is None else float(beta_1)
        self.discriminator = self.mlp(1, "domain_discriminator")
        # Kept out of Keras tracking: a training-time helper, not saved.
        self._frozen = SimpleNamespace(backbone=None, weights=None)

    def source_features(self, x):
        """Features of ``x`` by the frozen source encoder (after ``before_fit``)."""
        if self._frozen.weights is None:
            raise RuntimeError(
                "strategy='adda' has no source encoder yet: it is trained in "
                "before_fit, which DomainAdaptiveClassifier.fit calls."
            )
        trainable, non_trainable = self._frozen.weights
        features, _ = self._frozen.backbone.stateless_call(
            trainable, non_trainable, x, training=False
        )
        return ops.stop_gradient(features)

    def build(self, features_shape, logits_shape):
        self.discriminator.build(features_shape)

    def task_weight(self, lam):
        return 0.0  # the target phase has no source loss: the head is fixed

    def before_fit(self, model, source_batches, epochs, verbose=0):
        x, _ = source_batches[0]
        input_shape = (None, *x.shape[1:])
        # The source network shares the model's backbone and head, so the
        # target encoder starts as the trained source encoder.
        source = type(model)(
            model.feature_extractor,
            num_classes=model.num_classes,
            strategy="source_only",
            classifier=model.classifier,
            name="adda_source",
        )
        source.build(input_shape)
        source.compile(
            optimizer=fresh_optimizer(model, learning_rate=self.pretrain_learning_rate)
        )
        source.fit(source_batches, epochs=epochs, verbose=verbose)
        backbone = model.feature_extractor
        self._frozen.backbone = backbone
        self._frozen.weights = tuple(
            [ops.copy(ops.convert_to_tensor(v)) for v in variables]
            for variables in (
                backbone.trainable_variables,
                backbone.non_trainable_variables,
            )
        )
        model.classifier.trainable = False
        # The trainable weights changed: compile again, with a fresh optimizer
        # (at the authors' beta_1 for the adversarial game).
        recompile(model, beta_1=self.beta_1)

    def call(self, features, logits, lam, training=False, x=None):
        source_features = ops.cast(self.source_features(x), features.dtype)
        held = ops.stop_gradient(features)
        # The mapping pass: the discriminator with constant weights, so the
        # inverted-label loss trains the target encoder and not the judge.
        disc = self.discriminator
        constant_weights = [ops.stop_gradient(v) for v in disc.trainable_variables]
        mapping_logits, _ = disc.stateless_call(
            constant_weights,
            [v.value for v in disc.non_trainable_variables],
            features,
            training=False,
        )
        return {
            "source_domain_logits": disc(source_features, training=training),
            "target_domain_logits": disc(held, training=training),
            "mapping_logits": mapping_logits,
        }

    def adversarial_loss(self, outputs, batch):
        is_source = batch["is_source"]
        source_side = ops.reshape(
            ops.cast(outputs["source_domain_logits"], "float32"), (-1,)
        )
        target_side = ops.reshape(
            ops.cast(outputs["target_domain_logits"], "float32"), (-1,)
        )
        # Source rows as the source encoder sees them, target rows as the
        # target encoder does.
        judged = is_source * source_side + (1.0 - is_source) * target_side
        discriminator = domain_adversarial_loss(judged, is_source)
        mapping = domain_adversarial_loss(
            ops.reshape(ops.cast(outputs["mapping_logits"], "float32"), (-1,)),
            ops.ones_like(is_source),
            sample_weight=1.0 - is_source,
        )
        return discriminator + ops.cast(batch["lambda"], "float32") * mapping

    def get_config(self):
        return {
            **super().get_config(),
            "pretrain_learning_rate": self.pretrain_learning_rate,
            "beta_1": self.beta_1,
        }
