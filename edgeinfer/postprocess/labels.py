"""Labels files: one label per line, or ``<index> <label>`` lines (Coral's format)."""

from __future__ import annotations

import re
from pathlib import Path

from edgeinfer.errors import InputError

_INDEXED = re.compile(r"^\s*(\d+)[\s:]+(.+?)\s*$")
PLACEHOLDERS = frozenset({"???", "background", "__background__", "n/a"})


def read_labels(path: Path) -> dict[int, str]:
    """Read ``path`` into index → label; raise InputError if it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"labels file {path} does not exist — check the path"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(
            f"labels file {path} is not readable UTF-8 text ({err}) — "
            "give a text file with one label per line"
        ) from err
    lines = [ln.strip() for ln in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise InputError(f"labels file {path} is empty — give one label per line")
    indexed = [_INDEXED.match(ln) for ln in lines if ln]
    if all(indexed):
        return {int(m.group(1)): m.group(2) for m in indexed if m}
    return dict(enumerate(lines))


def fit_labels(
    labels: dict[int, str], num_classes: int | None, offset: int | None, path: Path
) -> dict[int, str]:
    """Shift ``labels`` so model class ``k`` maps to its name, checking the length.

    ``offset`` is how many leading lines to skip (None = automatic): a detection
    labels file starting with a placeholder such as ``???`` is shifted by one, and a
    classifier with one more class than labels (an implicit background) likewise.
    """
    if offset is None:
        first = labels.get(0, "").lower()
        if num_classes is None:
            offset = 1 if first in PLACEHOLDERS else 0
        else:
            offset = -1 if len(labels) == num_classes - 1 else 0
    shifted = {k - offset: v for k, v in labels.items() if k - offset >= 0}
    if num_classes is not None and (
        max(shifted, default=-1) >= num_classes or len(shifted) < num_classes - 1
    ):
        raise InputError(
            f"labels file {path} has {len(labels)} labels but the model has "
            f"{num_classes} classes — use the labels file made for this model"
        )
    return shifted
