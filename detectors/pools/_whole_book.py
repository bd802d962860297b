"""A seller's book found as several candidates: each is judged without the others' accounts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.pools._params import PoolParams
from features.arrays import distinct, in_sorted


def _same_book(
    users: npt.NDArray[np.int64],
    posts: npt.NDArray[np.int64],
    candidate: npt.NDArray[np.int64],
    community: npt.NDArray[np.int64],
    pool: int,
    home: int,
    *,
    params: PoolParams,
    sellers: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.bool_]:
    """Per account: of another candidate whose events are all in ``home`` and that shares a post with
    ``pool``, itself a candidate of ``home`` alone (per event ``users``, ``posts``, ``candidate`` and its
    post's ``community``).

    The search finds a pool at two resolutions, and a seller's book can come out as two candidates on
    the same clients' posts: the coarse pool's members and a finer pool's, whom the coarse pool's
    membership did not take. Judged one at a time, each leaves the other's accounts in its community,
    and the seller's own accounts, back on its clients order after order, make the community read as an
    audience that covers the pool. An audience's fans are many accounts spread over its creators, and a
    community that is an audience stays one without two candidates' accounts as without one. Only
    candidates of one community count (as ``_covered_within`` judges pools of one community): one that
    spans several mixes a book with the fans of other audiences, and the book's accounts taken out of
    its home would leave those fans uncovered. With ``sellers`` (per candidate: uncovered judged alone)
    a book counts only where one of its candidates, the judged one or another, is a seller's: a small
    audience whose creators are all a seller's clients is found as candidates that hold its fans as well
    as the seller's accounts, none uncovered alone, and without all of them its community has no fans
    left to show it an audience. None without ``cover_whole_book``.
    """
    out = np.zeros(int(users.max(initial=-1)) + 1, dtype=bool)
    found = candidate >= 0
    if not params.cover_whole_book or not found.any():
        return out
    mine = distinct(posts[found & (candidate == pool)])
    n_candidates = int(candidate.max(initial=-1)) + 1
    homes = np.zeros((n_candidates, int(community.max(initial=0)) + 1), dtype=np.int64)
    np.add.at(homes, (candidate[found], community[found]), 1)
    sharing = np.zeros(n_candidates, dtype=bool)
    sharing[candidate[found & in_sorted(posts, mine)]] = True
    # the book is its community: candidates of one community, the judged one too
    alone = homes[:, home] == homes.sum(axis=1)
    if not alone[pool]:
        return out
    book = sharing & alone
    if (
        sellers is not None
        and not (sellers[:n_candidates] & (book | (np.arange(n_candidates) == pool))).any()
    ):
        return out
    book[pool] = False
    out[users[found & book[np.maximum(candidate, 0)]]] = True
    return out
