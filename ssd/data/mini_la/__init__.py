"""The bundled mini corpus: real Asterisk prompts and offline spoofs in the ASVspoof 2019 LA layout.

``build(out_dir, profile, seed, nj)`` writes it; see :mod:`ssd.data.mini_la.corpus` for the plan and
the corpus's own README.md for what it contains.
"""

from ssd.data.mini_la.corpus import PROFILES, build, is_complete
from ssd.data.mini_la.sources import SourcesMissingError

__all__ = ["PROFILES", "SourcesMissingError", "build", "is_complete"]
