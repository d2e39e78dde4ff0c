"""Search spaces: how architectures are encoded, validated, hashed, sampled and mutated (pure).

``make_space(kind)`` builds a space by its ``Candidate.arch_kind``; open spaces (NADER's
block graphs) implement :class:`SearchSpace` and are passed to strategies directly.
"""

from nas.spaces.base import Allowed, CategoricalSpace, Position, SearchSpace, SpaceError
from nas.spaces.macro import ChannelBenchMacroSpace, NASBenchMacroSpace
from nas.spaces.nb201 import NB201Space

__all__ = [
    "Allowed",
    "CategoricalSpace",
    "ChannelBenchMacroSpace",
    "NASBenchMacroSpace",
    "NB201Space",
    "Position",
    "SearchSpace",
    "SpaceError",
    "make_space",
]

_KINDS = ("nb201", "nb-macro", "channel-resnet", "channel-mobilenet")


def make_space(kind: str) -> CategoricalSpace:
    """The built-in space whose members have ``arch_kind == kind``.

    >>> make_space("nb201").size
    15625
    """
    if kind == "nb201":
        return NB201Space()
    if kind in ("nb-macro", "macro"):
        return NASBenchMacroSpace()
    if kind in ("channel-resnet", "channel-mobilenet"):
        return ChannelBenchMacroSpace(kind.split("-", 1)[1])
    raise SpaceError(f"unknown space kind {kind!r}; built-in kinds: {', '.join(_KINDS)}")
