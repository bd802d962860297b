"""Audience communities of a platform's creators: the honest structure group tests measure chance within.

Real platforms are made of audiences (interest, region, language) whose users
rarely meet, and of studios whose creators share fans. A group test that takes
one well-mixed audience per platform finds any such audience far denser than
chance. The group tests (pools, dense blocks) therefore count chance within
and between the communities found here, once per platform and window
(``detectors.registry.WindowContext.audiences`` computes them once for both).

Creators are counted as units: the creators of one studio (``posts.studio_id``)
are one unit, every other creator its own. Communities are Louvain
communities of the unit graph (units tied by the light accounts they share
beyond a configuration model), kept only where they are audiences: insular (their accounts' co-engagement,
every shared account counted, stays mostly inside). A seller's book is tied
inside by its pool, but its creators' organic fans meet the rest of the
platform as chance says, so it is no audience. Modularity finds communities even in a well-mixed audience;
those are not insular and merge back into one. Louvain runs per connected part of the unit graph:
over a platform of regions that never meet, modularity's resolution limit grows with the whole graph
and merges one region's small audiences. Each unit also has a region (``_regions``): a connected
part of two audiences or more, judged as a platform of its own by the pool test's cover rule.
"""

from detectors.audiences._arrays import FloatArray, IntArray
from detectors.audiences._audiences import Audiences
from detectors.audiences._find import START_COLUMN, find_audiences, history_start, one_audience
from detectors.audiences._insularity import insularity, insularity_of_pairs, upper_share
from detectors.audiences._params import AudienceParams
from detectors.audiences._units import LightPairs, light_pairs, post_codes

__all__ = [
    "START_COLUMN",
    "AudienceParams",
    "Audiences",
    "FloatArray",
    "IntArray",
    "LightPairs",
    "find_audiences",
    "history_start",
    "insularity",
    "insularity_of_pairs",
    "light_pairs",
    "one_audience",
    "post_codes",
    "upper_share",
]
