import numpy as np
import pandas as pd

from features.timing import burst_excess, publication_times


def _events(post_ids, seconds):
    return pd.DataFrame(
        {
            "post_id": pd.Categorical(post_ids),
            "ts": pd.to_datetime(np.asarray(seconds) * 10**6, unit="us", utc=True).as_unit("us"),
        }
    )


def test_burst_excess_marks_a_spike_against_the_posts_own_rhythm_only():
    steady = np.arange(0, 7200, 60)  # one engagement a minute on both posts for two hours
    spike = np.full(40, 3600)  # forty more on post a inside one two-minute bin
    events = _events(["a"] * (len(steady) + len(spike)) + ["b"] * len(steady), [*steady, *spike, *steady])
    excess = burst_excess(events, bin_s=120.0, context_s=1800.0, min_bin_events=10, min_expected_events=1.0)
    seconds = events["ts"].astype("int64").to_numpy() // 10**6
    in_spike = (events["post_id"] == "a").to_numpy() & (seconds >= 3600) & (seconds < 3720)
    assert excess[in_spike].min() > 0.9  # 42 in the bin against about 2 expected
    assert excess[~in_spike].max() == 0.0  # the steady rhythm and the other post are not bursts


def test_publication_times_takes_the_earlier_of_file_and_first_engagement():
    events = _events(["a", "a", "b", "c"], [100, 200, 300, 400])
    posts = pd.DataFrame(
        {
            "post_id": ["a", "b", "c"],
            "published_at": pd.to_datetime([50, 900, None], unit="s", utc=True).as_unit("us"),
        }
    )
    published = publication_times(events, posts)
    seconds = published.astype("int64") // 10**6
    assert seconds.to_dict() == {"a": 50, "b": 300, "c": 400}
