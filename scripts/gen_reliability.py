"""Regenerate the tables of docs/reliability.md from tests/test_bad_input.py.

Runs every case of ``CASES`` and records the exact error a user sees.

    KERAS_BACKEND=jax python scripts/gen_reliability.py
"""

from __future__ import annotations

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    import numpy as np
    from test_bad_input import CASES, FAST

    from keras_transfer import DomainAdaptiveClassifier

    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(60, 3)).astype("float32")
    ys = (Xs[:, 0] > 0).astype(int)
    Xt = rng.normal(size=(40, 3)).astype("float32") + 0.5
    rows = [
        "| bad input | error | message the user sees | test |",
        "|---|---|---|---|",
    ]
    for name in sorted(CASES):
        make_args, params, _, _ = CASES[name]
        try:
            DomainAdaptiveClassifier(**{**FAST, **params}).fit(*make_args(Xs, ys, Xt))
            kind, message = "(no error)", ""
        except Exception as err:  # noqa: BLE001 - we record what users see
            kind, message = type(err).__name__, str(err)
        message = re.sub(r"\s+", " ", message).replace("|", "\\|")
        test = f"`tests/test_bad_input.py::test_bad_input_clear_error[{name}]`"
        rows.append(f"| {name} | `{kind}` | {message} | {test} |")
    from _report import write_section

    write_section("bad-inputs", "\n".join(rows), page="reliability.md")
    from test_bad_input import OFF_THE_HAPPY_PATH

    rows = ["| situation | what happens | test |", "|---|---|---|"]
    for situation, (behaviour, test) in OFF_THE_HAPPY_PATH.items():
        rows.append(f"| {situation} | {behaviour} | `{test}` |")
    write_section("off-happy-path", "\n".join(rows), page="reliability.md")


if __name__ == "__main__":
    main()
