"""Dense user x post blocks: batched FRAUDAR-style peeling tested against a degree null model.

Bot farms and pools of aged accounts make many accounts engage the same posts
of several creators, so the user x post graph of a window holds a block far
denser than the accounts' and posts' degrees explain. ``dense_blocks`` peels
the weighted graph to its densest part, settles each connected piece of it
into a block by membership rules, tests the block against a null model,
records it if significant, removes the edges it examined and peels again.

Farms work for many campaigns at once, so the window should span campaigns (a
platform's settlement period): inside one campaign a farm touches too few posts
and creators to stand out from fans.
"""

from detectors.dense._detector import COLUMNS, NAME, dense_blocks, densest_block
from detectors.dense._params import DenseBlockParams

__all__ = ["COLUMNS", "NAME", "DenseBlockParams", "dense_blocks", "densest_block"]
