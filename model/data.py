"""Text corpora: reading, the train/validation split, and the character vocabulary."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import ModelError

__all__ = ["Vocabulary", "read_text", "split_text", "shared_corpus"]


class Vocabulary:
    """An ordered set of characters; a character's id is its position.

    Parameters
    ----------
    chars : str
        The distinct characters, in id order.
    """

    def __init__(self, chars: str):
        if not isinstance(chars, str) or not chars:
            raise ModelError("a vocabulary needs at least one character")
        if len(set(chars)) != len(chars):
            raise ModelError(f"vocabulary has repeated characters: {chars!r}")
        self._chars = chars
        self._index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """The characters of ``text``, sorted by code point."""
        return cls("".join(sorted(set(text))))

    @property
    def chars(self) -> str:
        return self._chars

    def __len__(self) -> int:
        return len(self._chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and other._chars == self._chars

    def __repr__(self) -> str:
        return f"Vocabulary({self._chars!r})"

    def encode(self, text: str) -> np.ndarray:
        """Map ``text`` to ids (``int64``); unknown characters raise :class:`ModelError`."""
        try:
            return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError:
            bad = sorted({c for c in text if c not in self._index})
            pos = next(i for i, c in enumerate(text) if c not in self._index)
            raise ModelError(
                f"text has {len(bad)} character(s) outside the model's vocabulary of "
                f"{len(self)}: {''.join(bad)!r} (first at position {pos}); expected only "
                f"{self._chars!r}"
            ) from None

    def decode(self, ids) -> str:
        """Map ids back to text; ids out of range raise :class:`ModelError`."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self._chars):
                raise ModelError(f"character id {i} is outside the vocabulary [0, {len(self)})")
            out.append(self._chars[i])
        return "".join(out)


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file, with an error that names the file on failure."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"text file {path} does not exist") from None
    except UnicodeDecodeError as e:
        raise ModelError(f"text file {path} is not UTF-8 (byte {e.start}: {e.reason})") from None
    except OSError as e:
        raise ModelError(f"cannot read text file {path}: {e.strerror}") from None


def split_text(text: str, split: str) -> str:
    """Return the ``"train"`` (first 90 %), ``"val"`` (last 10 %) or ``"all"`` part of ``text``.

    The boundary is ``floor(0.9 * len(text))``: 1,003,854 / 111,540 characters for
    tinyshakespeare, as in the shared data README.
    """
    cut = len(text) * 9 // 10
    if split == "train":
        return text[:cut]
    if split == "val":
        return text[cut:]
    if split == "all":
        return text
    raise ModelError(f"split must be 'train', 'val' or 'all', not {split!r}")


def shared_corpus() -> Path | None:
    """Locate ``tinyshakespeare.txt``: ``$SNNFPGA_DATA`` (a file or folder), else ../shared/data."""
    candidates = []
    env = os.environ.get("SNNFPGA_DATA")
    if env:
        p = Path(env)
        candidates.append(p / "tinyshakespeare.txt" if p.is_dir() else p)
    root = Path(__file__).resolve().parent.parent
    candidates.append(root.parent / "shared" / "data" / "tinyshakespeare.txt")
    for c in candidates:
        if c.is_file():
            return c
    return None
