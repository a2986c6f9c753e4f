"""Optional dependencies: import one, or say in one line which extra to install.

Contract: `require(module, what=..., subject=...)` returns the imported module, or raises
`MissingExtra` (a `WhylabelError`: the CLI prints one line and exits 2) such as
`x.parquet: Parquet needs pyarrow: pip install "whylabel[dask]"`. The check is an import, so a
package that is installed but broken reads as missing too. Nothing here imports the packages
until asked: `whylabel --help` stays cheap.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import WhylabelError

# The pip name of each optional top-level module, and the whylabel extra that brings it.
EXTRAS: dict[str, tuple[str, str]] = {
    "pyarrow": ("pyarrow", "dask"),
    "dask": ("dask[distributed]", "dask"),
    "distributed": ("dask[distributed]", "dask"),
}


class MissingExtra(WhylabelError):
    """An optional dependency is not installed (or does not import)."""


def install_hint(module: str) -> str:
    """What to type: `pip install "whylabel[dask]"`."""
    _, extra = EXTRAS.get(module.split(".")[0], (module, "dask"))
    return f'pip install "whylabel[{extra}]"'


def require(module: str, *, what: str, subject: str | None = None) -> ModuleType:
    """`module` imported; else MissingExtra "SUBJECT: WHAT needs PACKAGE: pip install ...".

    `what` names the feature that needs it ("Parquet", "--engine dask"); `subject` is the file or
    option the user gave (left out when None).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        package, _ = EXTRAS.get(module.split(".")[0], (module, "dask"))
        prefix = f"{subject}: " if subject else ""
        raise MissingExtra(f"{prefix}{what} needs {package}: {install_hint(module)}") from None


__all__ = ["EXTRAS", "MissingExtra", "install_hint", "require"]
