import numpy as np
import pandas as pd

from detectors.params import PolicyParams, RuntimeParams, ScoringParams
from detectors.policy import decide_posts, flag_accounts, held_engagements, post_keys, unit_prices
from detectors.scorer import score_window
from tests.factories import clean, raw_event, raw_events


def _scored(invalid_by_post: dict[str, list[bool]], *, action: str = "like") -> pd.DataFrame:
    rows = []
    for post, flags in invalid_by_post.items():
        for i, is_invalid in enumerate(flags):
            rows.append(
                {
                    "event_id": f"{post}-{i}",
                    "campaign_id": "c1",
                    "post_id": post,
                    "creator_id": f"k{post}",
                    "user_id": f"u{i}",
                    "action": action,
                    "copies": 1,
                    "invalid": is_invalid,
                    "risk": 0.9 if is_invalid else 0.0,
                    "reason": "lockstep" if is_invalid else "",
                }
            )
    return pd.DataFrame(rows)


def test_decide_posts_pay_discount_hold():
    engagements = _scored({"a": [False] * 10, "b": [True] * 2 + [False] * 8, "c": [True] * 7 + [False] * 3})
    # post c is nearly all invalid; one of its three valid engagements carries evidence near the cut
    engagements.loc[(engagements["post_id"] == "c") & (engagements["user_id"] == "u9"), "risk"] = 0.42
    posts = decide_posts(
        engagements, price=np.full(len(engagements), 0.5), policy=PolicyParams(hold_invalid_share=0.6)
    )
    posts = posts.set_index("post_id")
    assert posts.loc["a", "decision"] == "pay" and posts.loc["a", "payable"] == 5.0
    assert posts.loc["b", "decision"] == "discount" and posts.loc["b", "payable"] == 4.0
    assert posts.loc["c", "decision"] == "hold" and posts.loc["c", "payable"] == 1.0
    assert posts.loc["c", "held_amount"] == 0.5 and posts.loc["c", "withheld_amount"] == 4.0
    assert posts.loc["c", "reasons"] == "lockstep"
    assert posts.loc["b", "claimed"] == 10 and posts.loc["b", "valid"] == 8


def test_decide_posts_on_a_slice_of_a_frames_post_keys_decides_as_on_the_slice_alone():
    """A settlement decides a window with its run's post keys (numbered once for the run): the same
    posts, sums and order as deciding the window's rows alone, categorical ids included."""
    engagements = _scored(
        {"a": [False] * 6, "b": [True] * 3 + [False] * 5, "c": [True] * 4, "d": [False] * 3}
    )
    engagements.loc[engagements["post_id"] == "d", "campaign_id"] = "c0"  # sorts before c1
    engagements.loc[1::4, "risk"] = 0.42
    for column in ("campaign_id", "post_id", "creator_id", "action", "reason"):
        engagements[column] = engagements[column].astype("category")
    price = np.linspace(0.1, 0.9, len(engagements))
    keys = post_keys(engagements)
    policy = PolicyParams(hold_invalid_share=0.6)
    for rows in (np.arange(len(engagements)) % 3 != 1, engagements["post_id"].isin(["b", "d"]).to_numpy()):
        window = engagements.loc[rows].reset_index(drop=True)
        alone = decide_posts(window, price=price[rows], policy=policy)
        sliced = decide_posts(window, price=price[rows], policy=policy, keys=keys.take(rows))
        pd.testing.assert_frame_equal(sliced, alone, check_exact=True)
        assert alone["post_id"].astype("str").tolist() == sorted(
            set(window["post_id"].astype("str")), key="dabc".index
        )


def _bought_post(*, n_bought: int, n_fans: int, n_escaped: int, escaped_risk: float) -> pd.DataFrame:
    """A post nearly all bought: caught bots, fans no detector doubts, bots escaped with weak evidence."""
    engagements = _scored({"p": [True] * n_bought + [False] * (n_fans + n_escaped)})
    escaped = engagements.index[n_bought + n_fans :]
    engagements.loc[escaped, "risk"] = escaped_risk
    return engagements


def test_a_bought_posts_real_fans_are_paid_and_its_doubted_rest_waits_for_review():
    # 95 caught, 5 fans at risk 0, 3 escaped bots at 0.43 (weak evidence just below the review band)
    engagements = _bought_post(n_bought=95, n_fans=5, n_escaped=3, escaped_risk=0.43)
    policy = PolicyParams(hold_invalid_share=0.9)
    held = held_engagements(engagements, policy=policy)
    assert held.tolist() == [False] * 100 + [True] * 3
    post = decide_posts(engagements, price=np.ones(len(engagements)), policy=policy).iloc[0]
    assert post["decision"] == "hold"
    assert (post["payable"], post["held_amount"], post["withheld_amount"]) == (5.0, 3.0, 98.0)


def test_a_bought_post_whose_rest_no_detector_doubts_is_a_discount_not_a_hold():
    engagements = _bought_post(n_bought=95, n_fans=5, n_escaped=2, escaped_risk=0.2)
    post = decide_posts(
        engagements, price=np.ones(len(engagements)), policy=PolicyParams(hold_invalid_share=0.9)
    ).iloc[0]
    assert post["decision"] == "discount"
    assert (post["payable"], post["held_amount"]) == (7.0, 0.0)


def test_a_margin_wider_than_the_cut_holds_a_bought_posts_whole_valid_rest():
    engagements = _bought_post(n_bought=95, n_fans=5, n_escaped=0, escaped_risk=0.0)
    policy = PolicyParams(hold_invalid_share=0.9, hold_rest_margin=1.0)
    post = decide_posts(engagements, price=np.ones(len(engagements)), policy=policy).iloc[0]
    assert post["decision"] == "hold"
    assert (post["payable"], post["held_amount"]) == (0.0, 5.0)


def test_an_uncertain_engagement_waits_on_its_own_when_the_post_is_mostly_certain():
    # one of 10 in the review band: too little of the post to hold it whole, too doubtful to pay
    engagements = _scored({"a": [False] * 10})
    engagements.loc[0, "risk"] = 0.47
    policy = PolicyParams(hold_uncertain_share=0.2, review_risk=0.46, invalid_risk=0.5)
    assert held_engagements(engagements, policy=policy).tolist() == [True] + [False] * 9
    post = decide_posts(engagements, price=np.ones(10), policy=policy).iloc[0]
    assert post["decision"] == "hold"
    assert (post["payable"], post["held_amount"], post["withheld_amount"]) == (9.0, 1.0, 1.0)


def test_one_uncertain_engagement_of_three_is_material_and_holds_the_post():
    engagements = _scored({"a": [False] * 3})
    engagements.loc[0, "risk"] = 0.47
    post = decide_posts(engagements, price=np.ones(3), policy=PolicyParams(hold_uncertain_share=0.2)).iloc[0]
    assert post["decision"] == "hold"
    assert (post["payable"], post["held_amount"]) == (0.0, 3.0)


def test_scored_engagements_carry_what_waits_and_it_sums_to_each_posts_held_amount():
    window = score_window(clean(raw_events(40)), params=ScoringParams(runtime=RuntimeParams(workers=1)))
    engagements, posts = window.engagements, window.posts.set_index("post_id")
    assert engagements["held"].dtype == bool
    held_money = (
        engagements["unit_price"].where(engagements["held"], 0.0).groupby(engagements["post_id"]).sum()
    )
    assert np.allclose(held_money.reindex(posts.index).to_numpy(), posts["held_amount"].to_numpy())
    assert (posts["payable"] + posts["held_amount"] <= posts["claimed_amount"] + 1e-9).all()


def test_decide_posts_counts_replay_copies_as_claimed_not_valid():
    engagements = _scored({"a": [False] * 4})
    engagements.loc[0, "copies"] = 3
    posts = decide_posts(engagements, price=np.ones(4), policy=PolicyParams(hold_invalid_share=0.6))
    assert posts.loc[0, "claimed"] == 6
    assert posts.loc[0, "valid"] == 4
    assert posts.loc[0, "decision"] == "discount"
    assert posts.loc[0, "withheld_amount"] == 2.0


def test_unit_prices_use_campaign_prices_and_zero_for_unpaid_actions():
    engagements = pd.DataFrame(
        {"campaign_id": ["c1", "c1", "c2", "c1"], "action": ["like", "comment", "like", "view"]}
    )
    campaigns = pd.DataFrame(
        {
            "campaign_id": ["c1"],
            "price_like": [0.1],
            "price_favorite": [0.2],
            "price_comment": [0.5],
            "price_share": [0.8],
        }
    )
    price = unit_prices(engagements, campaigns, default_unit_price=1.0)
    assert price.tolist() == [0.1, 0.5, 1.0, 0.0]


def test_flag_accounts_flags_buyers_not_creators_with_a_little_camouflage():
    engagements = pd.concat(
        [
            _scored({"bought": [True] * 16 + [False] * 4}),
            _scored({"popular": [True] * 2 + [False] * 98}),
        ],
        ignore_index=True,
    )
    accounts = flag_accounts(engagements, policy=PolicyParams())
    creators = accounts[accounts["role"] == "creator"].set_index("account_id")
    assert creators.loc["kbought", "flagged"]
    assert not creators.loc["kpopular", "flagged"]
    engagers = accounts[accounts["role"] == "engager"]
    assert engagers["flagged"].sum() == 16  # u0..u15 had an invalid engagement


def test_flag_accounts_counts_only_post_level_evidence_and_rings_as_buying():
    engagements = _scored({"camouflaged": [True] * 10 + [False] * 20, "ring": [False] * 30})
    accounts = flag_accounts(
        engagements,
        policy=PolicyParams(),
        is_bought=np.zeros(len(engagements), dtype=bool),
        ring_creators=frozenset({"kring"}),
    )
    creators = accounts[accounts["role"] == "creator"].set_index("account_id")
    assert not creators.loc["kcamouflaged", "flagged"]
    assert creators.loc["kring", "flagged"]


def test_flag_accounts_does_not_flag_an_account_for_duplicate_recounts_only():
    # u3 likes p1 once; the platform reports that like again under a new event_id
    raw = pd.concat([raw_events(12), pd.DataFrame([raw_event(20, user_id="u3")])], ignore_index=True)
    window = score_window(clean(raw), params=ScoringParams(runtime=RuntimeParams(workers=1)))
    engagements = window.engagements.set_index("event_id")
    assert engagements.loc["e20", "is_recount"] and engagements.loc["e20", "invalid"]
    assert engagements.loc["e20", "reason"] == "duplicate"
    assert not engagements.loc["e3", "invalid"]
    post = window.posts.set_index("post_id").loc["p1"]
    assert (post["claimed"], post["valid"], post["decision"]) == (13, 12, "discount")
    assert post["payable"] == 12.0 and post["withheld_amount"] == 1.0  # the re-count stays unpaid
    accounts = window.accounts.set_index("account_id")
    assert not accounts["flagged"].any()
    assert accounts.loc["u3", "risk"] == 0.0 and accounts.loc["u3", "reasons"] == ""
    assert accounts.loc["k1", "reasons"] == ""


def test_flag_accounts_flags_an_account_with_a_recount_and_real_evidence():
    engagements = _scored({"a": [False] * 4, "b": [False] * 4})
    # u0: a re-count on a (invalid, duplicate) and a lockstep engagement on b; u1: re-counts only
    recounts = engagements.index[(engagements["post_id"] == "a") & engagements["user_id"].isin(["u0", "u1"])]
    engagements.loc[recounts, ["invalid", "risk", "reason"]] = [True, 1.0, "duplicate"]
    lockstep = engagements.index[(engagements["post_id"] == "b") & (engagements["user_id"] == "u0")]
    engagements.loc[lockstep, ["invalid", "risk", "reason"]] = [True, 0.8, "lockstep"]
    accounts = flag_accounts(engagements, policy=PolicyParams())
    engagers = accounts[accounts["role"] == "engager"].set_index("account_id")
    assert engagers.loc["u0", "flagged"]
    assert engagers.loc["u0", "risk"] == 0.8  # its own evidence, not the re-count's 1.0
    assert engagers.loc["u0", "reasons"] == "lockstep"
    assert not engagers.loc["u1", "flagged"] and engagers.loc["u1", "reasons"] == ""
    assert engagers["flagged"].sum() == 1


def test_decide_posts_holds_when_much_of_a_post_is_uncertain():
    engagements = _scored({"a": [False] * 10})
    engagements.loc[:4, "risk"] = 0.47
    posts = decide_posts(
        engagements,
        price=np.ones(10),
        policy=PolicyParams(hold_invalid_share=0.9, hold_uncertain_share=0.2, review_risk=0.46),
    )
    assert posts.loc[0, "decision"] == "hold"
    assert posts.loc[0, "payable"] == 0.0
    assert posts.loc[0, "held_amount"] == 10.0


def test_top_reasons_orders_an_accounts_reasons_by_count_then_name():
    from detectors.policy import _top_reasons

    bad = pd.DataFrame(
        {
            "user_id": pd.Categorical(["u1", "u1", "u1", "u2", "u1", "u3", "u3"]),
            "reason": pd.Categorical(["ring", "lockstep", "ring", "pool", "dense_block", "pool", "ip_farm"]),
        }
    )
    reasons = _top_reasons(bad, key="user_id")
    assert reasons.to_dict() == {"u1": "ring;dense_block;lockstep", "u2": "pool", "u3": "ip_farm;pool"}
