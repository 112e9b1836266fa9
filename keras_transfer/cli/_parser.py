"""The argument parser: the estimators' options, derived from their signatures."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

from keras_transfer.cli._commands import (
    cmd_benchmark,
    cmd_demo,
    cmd_evaluate,
    cmd_fit,
    cmd_predict,
    cmd_strategies,
    cmd_transfer,
)
from keras_transfer.cli._common import (
    BACKENDS,
    DEFAULT_DEMO_PNG,
    DEFAULT_MODEL,
    DEMO_FIT,
    PROG,
    _Parser,
)

# ---------------------------------------------------------------------------
# parser


def _weight(text: str):
    """--adaptation-weight: a number or 'auto'."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or 'auto', got {text!r}"
        ) from None


#: The estimator behind each command, and the files its defaults are read from.
ESTIMATORS = {
    "fit": (
        "DomainAdaptiveClassifier",
        "estimators/domain_adaptive.py",
        "strategies/base.py",  # DEFAULT_RECIPE: settings a recipe leaves open
    ),
    "transfer": (
        "TransferClassifier",
        "estimators/transfer.py",
        "estimators/_transfer_training.py",  # DEFAULT_EPOCHS, MIN_TARGET_STEPS, ...
    ),
}


def estimator_defaults(command: str) -> dict:
    """The defaults behind ``command``'s options, read from the estimator's source.

    The ``__init__`` defaults of the command's estimator (what
    ``inspect.signature`` gives) and the literal module constants of its
    files, read with :mod:`ast`: importing the estimator would import Keras
    before ``--backend`` is read.

    Example:
    >>> from keras_transfer.cli import estimator_defaults
    >>> estimator_defaults("transfer")["strategy"]
    'fine_tune'
    """
    name, *files = ESTIMATORS[command]
    values = {}
    for relpath in files:
        source = (Path(__file__).parents[1] / relpath).read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id.isupper():
                    try:
                        values[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        pass
            if isinstance(node, ast.ClassDef) and node.name == name:
                init = next(
                    n
                    for n in node.body
                    if isinstance(n, ast.FunctionDef) and n.name == "__init__"
                )
                args = init.args
                named = args.posonlyargs + args.args
                pairs = [
                    *zip(named[len(named) - len(args.defaults) :], args.defaults),
                    *zip(args.kwonlyargs, args.kw_defaults),
                ]
                for arg, default in pairs:
                    try:  # None: a keyword-only parameter without a default
                        values[arg.arg] = ast.literal_eval(default)
                    except ValueError:
                        pass
    return values


#: The options of 'fit' and 'transfer', each defined once: dest -> (flags,
#: argparse keywords). ``param``: the estimator parameter whose default the
#: option takes. A command may word a help its own way; helps are formatted
#: with ``default`` and the values of :func:`estimator_defaults`
#: (see _add_training_options).
TRAINING_OPTIONS = {
    "out": (
        ("-o", "--out"),
        {"default": DEFAULT_MODEL, "help": "model file ({default})"},
    ),
    "strategy": (("-s", "--strategy"), {"param": "strategy"}),
    "backbone": (("--backbone",), {"param": "backbone"}),
    "backbone_param": (
        ("--backbone-param",),
        {
            "action": "append",
            "metavar": "KEY=VALUE",
            "help": "backbone parameter (repeatable), e.g. --backbone-param "
            "units=(128,64)",
        },
    ),
    "epochs": (
        ("--epochs",),
        {"type": int, "param": "epochs", "help": "default {default}"},
    ),
    "batch_size": (
        ("--batch-size",),
        {"type": int, "param": "batch_size", "help": "default {default}"},
    ),
    "learning_rate": (("--learning-rate",), {"type": float, "param": "learning_rate"}),
    "seed": (
        ("--seed",),
        {"type": int, "param": "random_state", "help": "random seed"},
    ),
}


def _add_training_options(parser, command: str, **helps) -> dict:
    """Add TRAINING_OPTIONS to ``command``'s parser (defaults and helps filled
    from its estimator; ``helps``: its own wording); returns the defaults."""
    values = estimator_defaults(command)
    for dest, (flags, keywords) in TRAINING_OPTIONS.items():
        keywords = dict(keywords)
        param = keywords.pop("param", None)
        if param is not None:
            keywords["default"] = values.get(param)
        text = helps.get(dest, keywords.get("help"))
        if text is not None:
            keywords["help"] = text.format(default=keywords.get("default"), **values)
        parser.add_argument(*flags, dest=dest, **keywords)
    return values


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``keras-transfer`` (for docs and tests).

    Example:
    >>> from keras_transfer.cli import build_parser
    >>> build_parser().parse_args(["demo", "--epochs", "3"]).epochs
    3
    """
    from keras_transfer import __version__

    parser = _Parser(
        prog=PROG,
        description=(
            "Transfer learning and domain adaptation on Keras 3 (JAX, TensorFlow, "
            "PyTorch). Start with 'keras-transfer demo'."
        ),
        epilog="Run 'keras-transfer COMMAND --help' for the options of a command.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    common = _Parser(add_help=False)
    common.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend (default: $KERAS_BACKEND, Keras's config, or the first "
        "installed of jax, tensorflow, torch)",
    )
    training = _Parser(add_help=False)
    training.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="Keras fit verbosity: 1 progress bars (default), 2 one line per "
        "epoch, 0 silent",
    )
    training.add_argument(
        "-q",
        "--quiet",
        dest="verbose",
        action="store_const",
        const=0,
        help="same as --verbose 0",
    )
    labels = _Parser(add_help=False)
    labels.add_argument(
        "--label-column",
        metavar="COL",
        help="CSV label column: a header name or a 0-based index (default: the "
        "last column; a file with exactly the model's feature count is unlabelled)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "demo",
        parents=[common, training],
        help="source-only vs DANN on rotated moons: table + PNG (no download)",
        description=(
            "Fit a source-only model and DANN on the rotated two-moons problem "
            "(embedded data, nothing to download), print their target accuracy "
            "before and after adaptation and save a plot of both decision regions."
        ),
    )
    p.add_argument("--epochs", type=int, default=DEMO_FIT["epochs"], help="default 20")
    p.add_argument("--seed", type=int, default=0, help="seed of data and models")
    p.add_argument(
        "--angle", type=float, default=30.0, help="target rotation, degrees (30)"
    )
    p.add_argument(
        "--n-samples", type=int, default=2000, help="points per domain (2000)"
    )
    p.add_argument(
        "-o",
        "--out",
        default=DEFAULT_DEMO_PNG,
        help=f"PNG to write (default ./{DEFAULT_DEMO_PNG}; '' for none)",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "fit",
        parents=[common, training, labels],
        help="fit on SOURCE (labelled) and TARGET (unlabelled) files; save the model",
        description=(
            "Fit a DomainAdaptiveClassifier on a labelled SOURCE and an unlabelled "
            "TARGET and save it with estimator.save(). Files: CSV (label in the "
            "last column), NPZ (X, y), svmlight, a folder of images (one "
            "subfolder per class) or tfds:NAME:SPLIT. Target labels, if any, "
            "are ignored."
        ),
    )
    p.add_argument("source", help="labelled source data")
    p.add_argument("target", help="target data (labels, if present, are ignored)")
    p.add_argument(
        "--unlabelled",
        metavar="VALUE",
        help="label value that marks unlabelled SOURCE rows (default: none; "
        "every source row is labelled, -1 included)",
    )
    defaults = _add_training_options(
        p,
        "fit",
        strategy="adaptation strategy (default {default}; 'keras-transfer "
        "strategies' lists them)",
        backbone="feature extractor: auto (cnn for images, else mlp), mlp or cnn",
        batch_size="rows per domain per batch ({default})",
        learning_rate="default: the strategy's recipe "
        "({DEFAULT_RECIPE[learning_rate]:g})",
    )
    p.add_argument(
        "--adaptation-weight",
        type=_weight,
        default=defaults["adaptation_weight"],
        metavar="LAMBDA",
        help="weight λ of the adaptation loss, or 'auto' (choose it without "
        "target labels); default: the strategy's recipe",
    )
    p.add_argument(
        "--schedule",
        default=defaults["schedule"],
        help="λ schedule: ganin, constant, warmup (default: the strategy's recipe)",
    )
    p.add_argument(
        "--optimizer",
        default=defaults["optimizer"],
        help="Keras optimizer name (default: the strategy's recipe, "
        f"{defaults['DEFAULT_RECIPE']['optimizer']})",
    )
    p.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="strategy parameter (repeatable), e.g. --param units=(32,)",
    )
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser(
        "transfer",
        parents=[common, training, labels],
        help="transfer learning: pretrain on SOURCE (or load a model), fit TARGET",
        description=(
            "Fit a TransferClassifier: SOURCE is a labelled data file (its own "
            "label set; a network is pretrained on it) or a pretrained model "
            "(.keras, legacy .h5, a keras_hub preset folder); TARGET is the "
            "labelled target task. Saves the estimator with estimator.save(); "
            "'predict' and 'evaluate' read it."
        ),
    )
    p.add_argument("source", help="labelled source data, or a pretrained model")
    p.add_argument("target", help="labelled target data")
    defaults = _add_training_options(
        p,
        "transfer",
        strategy="{default} (default), lp_ft, feature_extraction, partial, gradual, "
        "joint, lwf, adapter, lora, fusion",
        backbone="architecture pretrained on source data: auto, mlp, cnn, resnet",
        backbone_param="backbone parameter (repeatable), e.g. --backbone-param "
        "units=(128,)",
        epochs="default: {DEFAULT_EPOCHS} (and ≥{MIN_TARGET_STEPS:,} steps)",
        learning_rate="default: the source run's ({DEFAULT_LEARNING_RATE:g})",
    )
    p.add_argument(
        "--feature-layer",
        default=defaults["feature_layer"],
        help="where features end",
    )
    p.add_argument(
        "--pretrain-epochs",
        type=int,
        default=defaults["pretrain_epochs"],
        help=f"default: {defaults['DEFAULT_PRETRAIN_EPOCHS']} (and "
        f"≥{defaults['MIN_PRETRAIN_STEPS']:,} steps)",
    )
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser(
        "predict",
        parents=[common, labels],
        help="write a saved model's predictions on DATA as CSV",
        description="Predict labels for DATA with a model saved by 'fit'.",
    )
    p.add_argument("model", help="model file written by 'keras-transfer fit'")
    p.add_argument("data", help="data to predict (a label column, if any, is ignored)")
    p.add_argument(
        "-o",
        "--out",
        default="predictions.csv",
        help="CSV to write (default predictions.csv; '-' for stdout)",
    )
    p.add_argument(
        "--proba", action="store_true", help="add one probability column per class"
    )
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "evaluate",
        parents=[common, labels],
        help="accuracy of a saved model on a labelled DATA file",
        description="Print the accuracy of a model saved by 'fit' on labelled DATA.",
    )
    p.add_argument("model", help="model file written by 'keras-transfer fit'")
    p.add_argument("data", help="labelled data")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "benchmark",
        parents=[common],
        help="run benchmarks/NAME.py (no NAME: list them)",
        description=(
            "Run a benchmark script from the benchmarks/ folder (of the current "
            "directory or of the keras_transfer source tree) with this Python. "
            "Arguments after NAME go to the script."
        ),
    )
    p.add_argument("name", nargs="?", help="benchmark name, e.g. overhead")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    p.add_argument("--list", action="store_true", help="list the benchmarks")
    p.add_argument("--dir", help="folder of benchmark scripts")
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser(
        "strategies",
        parents=[common],
        help="list the strategy names accepted by --strategy",
        description="List the registered domain-adaptation strategies.",
    )
    p.set_defaults(func=cmd_strategies)
    return parser
