"""Generate docs/api.md, the API reference, from the docstrings.

Usage::

    python scripts/gen_api_docs.py            # (re)write docs/api.md
    python scripts/gen_api_docs.py --check    # exit 1 if docs/api.md is stale

Every public name (a module's ``__all__``) of the modules in ``MODULES`` gets
its signature and its docstring. Google-style sections (``Args:``,
``Returns:``, ...) and numpy-style ones (``Parameters`` over a dashed line)
become Markdown lists; ``>>>`` examples become ```` ```pycon ```` blocks, which
``tests/test_docs.py`` runs with doctest. A module that cannot be imported is
listed with the reason, so the script never fails on a half-written package.
Run it with the backend you like (``KERAS_BACKEND=jax`` is the fastest).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "api.md"

# (module, title); the order of the reference.
MODULES = [
    ("keras_transfer", "Estimators"),
    ("keras_transfer.strategies", "Strategies"),
    ("keras_transfer.schedules", "λ schedules"),
    ("keras_transfer.layers", "Layers"),
    ("keras_transfer.losses", "Losses"),
    ("keras_transfer.backbones", "Backbones"),
    ("keras_transfer.freezing", "Freezing"),
    ("keras_transfer.models", "Models"),
    ("keras_transfer.data", "Batches"),
    ("keras_transfer.model_selection", "Model selection"),
    ("keras_transfer.datasets", "Datasets"),
    ("keras_transfer.diagnostics", "Diagnostics"),
    ("keras_transfer.backend", "Backend"),
    ("keras_transfer.cli", "Command line"),
]
# Public names of modules without __all__.
EXTRA_NAMES = {
    "keras_transfer.schedules": None,  # every public class / function
    "keras_transfer.backend": [
        "name",
        "limit_threads",
        "worker_env",
        "distribution_scope",
        "num_replicas",
        "scale_loss_for_replicas",
        "steps_per_execution",
    ],
    "keras_transfer.cli": ["main", "build_parser", "read_data"],
}
# Public names a package exports beyond its __all__.
EXTRA_EXPORTS = {
    "keras_transfer.datasets": ["load_tfds", "is_tfds_name", "parse_tfds_name"],
}
SKIP_NAMES = {"__version__"}
ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`(~?)([^`]+)`")

GOOGLE = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Returns|Return|Yields|"
    r"Raises|Attributes|Class attributes|Example|Examples|Note|Notes|Hooks|"
    r"See Also|References|Warning|Warnings):\s*$"
)
LIST_SECTIONS = {
    "args",
    "arguments",
    "parameters",
    "params",
    "keyword args",
    "attributes",
    "class attributes",
    "raises",
}


def public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    extra = EXTRA_NAMES.get(module.__name__, ())
    if names is None or module.__name__ in EXTRA_NAMES:
        if extra is None:
            names = [
                n
                for n, obj in vars(module).items()
                if not n.startswith("_")
                and (inspect.isclass(obj) or inspect.isfunction(obj))
                and getattr(obj, "__module__", "") == module.__name__
            ]
        else:
            names = list(extra)
    names = list(names) + [
        n for n in EXTRA_EXPORTS.get(module.__name__, ()) if n not in names
    ]
    return [n for n in names if n not in SKIP_NAMES]


def _role(match) -> str:
    """:class:`~a.b.C` -> `C`; :func:`a.b` -> `a.b`."""
    target = match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"


def signature(obj, skip_self: bool = False) -> str:
    """The call signature; one parameter per line when it is long."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return "(...)"
    params = list(sig.parameters.values())
    if (
        (inspect.isclass(obj) or skip_self)
        and params
        and params[0].name
        in (
            "self",
            "cls",
        )
    ):
        params = params[1:]
    sig = sig.replace(parameters=params)
    text = re.sub(r" at 0x[0-9a-f]+", "", str(sig))
    if len(text) <= 88:
        return text
    # split str(sig) at top-level commas: keeps the "*" and "/" markers
    inner = text[1 : text.rindex(")")]
    ret = text[text.rindex(")") + 1 :]
    pieces, depth, current = [], 0, ""
    for ch in inner:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            pieces.append(current.strip())
            current = ""
        else:
            current += ch
    pieces.append(current.strip())
    return "(\n" + "".join(f"    {p},\n" for p in pieces if p) + ")" + ret


# Classes rendered in the reference: their methods are not repeated under
# subclasses (set by render()).
DOCUMENTED: set = set()
SKIP_METHODS = {"get_config", "from_config", "build", "call", "compute_output_shape"}


def public_methods(cls) -> list[tuple[str, object]]:
    """Documented public methods that keras_transfer itself defines.

    A method inherited from another class of the reference is listed there,
    not again here.
    """
    out, seen = [], set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("keras_transfer"):
            continue
        own = klass is cls or klass not in DOCUMENTED
        for name, attr in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            if not own or name.startswith("_") or name in SKIP_METHODS:
                continue
            func = (
                attr.__func__ if isinstance(attr, (classmethod, staticmethod)) else attr
            )
            # Its own docstring only: not one inherited from Keras or sklearn.
            if not inspect.isfunction(func) or not (func.__doc__ or "").strip():
                continue
            out.append((name, getattr(cls, name)))
    return out


def _flush_pycon(lines: list[str], out: list[str]) -> None:
    while lines and not lines[-1].strip():
        lines.pop()
    if lines:
        out += ["", "```pycon", *lines, "```", ""]
    lines.clear()


def render_docstring(doc: str) -> list[str]:
    """Markdown lines from a Google- or numpy-style docstring."""
    lines = inspect.cleandoc(doc).splitlines()
    lines = [line if ">>>" in line else ROLE.sub(_role, line) for line in lines]
    # A fenced example inside a docstring is shown, not run by tests/test_docs.py.
    lines = [
        re.sub(r"^(\s*)```(python|py)\s*$", r"\1```\2 no-test", line) for line in lines
    ]
    out: list[str] = []
    section = None
    pycon: list[str] = []
    item_indent = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        # doctest examples, anywhere
        if stripped.startswith(">>>") or (pycon and stripped):
            if not pycon:
                indent = len(line) - len(line.lstrip())
            pycon.append(line[indent:] if line[:indent].isspace() else stripped)
            i += 1
            continue
        if pycon:
            _flush_pycon(pycon, out)
        m = GOOGLE.match(stripped)
        dashed = i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip())
        if m or (dashed and stripped and len(line) == len(line.lstrip())):
            section = (m.group(1) if m else stripped).lower()
            out += ["", f"**{m.group(1) if m else stripped}**", ""]
            i += 2 if dashed and not m else 1
            item_indent = None
            continue
        if section in LIST_SECTIONS and stripped:
            indent = len(line) - len(line.lstrip())
            if item_indent is None:
                item_indent = indent
            numpy_item = re.match(r"^([\w*, ]+?)\s+:\s*(.*)$", stripped)
            google_item = re.match(r"^([\w*, ]+?)(\s*\(([^)]*)\))?:\s*(.*)$", stripped)
            if indent == item_indent and (numpy_item or google_item):
                if numpy_item and not google_item:
                    name, rest = numpy_item.group(1), numpy_item.group(2)
                    out.append(
                        f"- `{name.strip()}` ({rest})" if rest else f"- `{name}`"
                    )
                else:
                    name, kind, rest = (
                        google_item.group(1),
                        google_item.group(3),
                        google_item.group(4),
                    )
                    kind = f" ({kind})" if kind else ""
                    out.append(f"- `{name.strip()}`{kind}: {rest}".rstrip())
            else:
                out.append(f"  {stripped}")
            i += 1
            continue
        if section is not None and stripped and section not in LIST_SECTIONS:
            out.append(stripped if not line.startswith("    ") else line[4:])
        elif section is None:
            out.append(line)
        else:
            out.append("")
        i += 1
    _flush_pycon(pycon, out)
    # collapse runs of blank lines
    result: list[str] = []
    for line in out:
        if line == "" and result and result[-1] == "":
            continue
        result.append(line)
    return result


def render_object(qualname: str, obj) -> list[str]:
    kind = "class" if inspect.isclass(obj) else "function"
    if not (inspect.isclass(obj) or callable(obj)):
        return [f"### `{qualname}`", "", f"Constant: `{obj!r}`", ""]
    out = [f"### `{qualname}`", "", "```text", f"{kind} {qualname}{signature(obj)}"]
    out += ["```", ""]
    doc = obj.__doc__ if (obj.__doc__ or "").strip() else None  # not inherited
    out += render_docstring(doc) + [""] if doc else ["*(no docstring)*", ""]
    if inspect.isclass(obj):
        for name, method in public_methods(obj):
            out += [
                f"#### `{qualname.rsplit('.', 1)[-1]}.{name}`",
                "",
                "```text",
                f"{name}{signature(method, skip_self=True)}",
                "```",
                "",
                *render_docstring(method.__doc__),
                "",
            ]
    return out


def render() -> str:
    out = [
        "# API reference",
        "",
        "<!-- Generated by scripts/gen_api_docs.py from the docstrings: do not "
        "edit by hand; run `python scripts/gen_api_docs.py`. -->",
        "",
        "The public names of each module, with their signatures and docstrings. "
        "The examples (```` ```pycon ```` blocks) are run by `tests/test_docs.py`.",
        "",
    ]
    toc, body = [], []
    DOCUMENTED.clear()
    for module_name, _ in MODULES:
        try:
            module = importlib.import_module(module_name)
        except Exception:
            continue
        for name in public_names(module):
            obj = getattr(module, name, None)
            if inspect.isclass(obj):
                DOCUMENTED.add(obj)
    for module_name, title in MODULES:
        try:
            module = importlib.import_module(module_name)
        except Exception as err:  # a half-written module: say so, go on
            body += [
                f"## {title}: `{module_name}`",
                "",
                f"*(not importable: {type(err).__name__}: {err})*",
                "",
            ]
            continue
        names = public_names(module)
        if not names:
            continue
        anchor = module_name.replace(".", "").replace("_", "")
        toc.append(f"- [{title}](#{anchor}): " + ", ".join(f"`{n}`" for n in names))
        body += [f'<a id="{anchor}"></a>', "", f"## {title}: `{module_name}`", ""]
        doc = inspect.getdoc(module) or ""
        if doc:
            first = doc.split("\n\n")[0]
            body += [" ".join(first.split()), ""]
        for name in names:
            obj = getattr(module, name)
            body += render_object(f"{module_name}.{name}", obj)
    return "\n".join(out + toc + [""] + body).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if stale")
    parser.add_argument("--out", default=str(OUT), help="output file")
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    sys.path.insert(0, str(ROOT))
    text = render()
    path = Path(args.out)
    if args.check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(
                f"{path} is stale: run python scripts/gen_api_docs.py", file=sys.stderr
            )
            return 1
        print(f"{path} is up to date")
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
