"""From survey files to a paired dataset: cross-match, the seed study's cuts, rejections.

:func:`prepare_paired` is what ``stereo-ppl prepare`` runs.
"""

from .crossmatch import DEFAULT_RADIUS, CrossMatch, DroppedRow, match_by_id, match_by_sky
from .cuts import CUT_NAMES, CatalogueColumnError, CutCount, CutResult, Cuts, apply_cuts
from .pipeline import PrepareResult, prepare_paired
from .rejections import REJECTED, PrepareError, PrepareWarning, Rejection

__all__ = [
    "CUT_NAMES",
    "DEFAULT_RADIUS",
    "REJECTED",
    "CatalogueColumnError",
    "CrossMatch",
    "CutCount",
    "CutResult",
    "Cuts",
    "DroppedRow",
    "PrepareError",
    "PrepareResult",
    "PrepareWarning",
    "Rejection",
    "apply_cuts",
    "match_by_id",
    "match_by_sky",
    "prepare_paired",
]
