import numpy as np

from detectors.footprints import footprint_weight


def test_footprints_repeated_as_chance_says_keep_their_weight_and_an_orders_do_not():
    """Fans of units of one post each repeat footprints as their units say (weight 1); 120 accounts
    on the same bought post of each of two units that have 4 posts each count under a fifth each."""
    rng = np.random.default_rng(0)
    user, post = [], []
    for account in range(200):  # fans: 2 of 4 single-post units (posts 0-3)
        for p in rng.choice(4, size=2, replace=False):
            user.append(account)
            post.append(int(p))
    for account in range(200, 400):  # fans of units 4 and 5, spread over their 4 posts each
        user += [account, account]
        post += [4 + int(rng.integers(4)), 8 + int(rng.integers(4))]
    for account in range(400, 520):  # the order: the same bought post of units 4 and 5
        user += [account, account]
        post += [4, 8]
    post_unit = np.array([0, 1, 2, 3] + [4] * 4 + [5] * 4)
    weight = footprint_weight(np.array(user), np.array(post), post_unit)
    assert (weight[:200] == 1.0).all()
    assert weight[400:520].max() < 0.2
    assert np.median(weight[200:400]) == 1.0
