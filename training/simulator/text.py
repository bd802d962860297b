"""Comment texts: a heavy-tailed honest vocabulary and click-farm templates.

Every comment is a code into one text table. Honest comments repeat too
(short ones like "666" are everywhere) and honest viewers also name the
product, so duplication alone does not mark a click farm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


PRODUCTS = _words(
    "面霜 洗面奶 防晒霜 口红 蓝牙耳机 扫地机器人 零食礼包 咖啡 "
    "精华液 洗发水 运动鞋 空气炸锅 面膜 香水 保温杯 电动牙刷"
)
_SHORT = _words("666 好 赞 👍 ❤️ [赞] 哈哈哈哈 打卡 来了 沙发 好看 前排 支持")
_OPENERS = ("", "", "", *_words("哇 天呐 姐妹 家人们 啊啊啊 真的 说实话 笑死 救命"))
_BODIES = _words(
    "好看 太好看了 爱了爱了 绝了 好喜欢 学到了 收藏了 马住 已关注 求教程 这个颜色好看 "
    "博主好美 太可爱了 好真实 有被种草 想要同款 太有用了 拍得真好 这是哪里 支持一下 "
    "好有氛围感 第一次刷到 每天都在等更新 讲得很清楚 这也太便宜了吧 看饿了 音乐叫什么 "
    "背景好好看 衣服链接有吗 求分享 比我买的好 我也想试试 一直在用 质量怎么样 "
    "踩过坑的路过 真的假的 有点心动 蹲一个后续 好治愈 好实用"
)
_CLOSERS = ("", "", "", *_words("！ ！！ ~ ～ 😍 👍 [赞] [爱心] 哈哈哈 😂 🔥 ❤️ 。"))
_HONEST_PRODUCT = _words(
    "{p}多少钱 {p}链接有吗 {p}好用吗 用过{p}，确实不错 {p}适合敏感肌吗 "
    "{p}在哪买的 想买{p} {p}是不是有点贵 求{p}链接 {p}我也在用"
)
_FARM_TEMPLATES = _words(
    "{p}真的好用，已经回购了 买了{p}，效果很好 {p}质量不错，推荐 已下单{p}，期待 "
    "姐妹们冲这个{p} {p}性价比超高 用了一周{p}，真心推荐 {p}是我用过最好的 "
    "已入手{p}，好评 {p}yyds 种草了{p} 这个{p}绝了"
)
FARM_VARIANTS = ("", *_words("！ ！！ ~ 👍 [赞]"))
# "Like and comment to win": entrants write the same few words, often tagging a friend.
_GIVEAWAY_ENTRIES = _words("参与 已参与 抽我 抽我抽我 许愿 许愿中奖 求中奖 我要我要 接好运 蹲一个 冲冲冲")
_GIVEAWAY_SUFFIXES = ("", "", "！", "～", "🙏", " @好友", " @闺蜜 一起")
N_FARM_TEMPLATES = len(_FARM_TEMPLATES)

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TextBank:
    """All comment texts plus where each kind starts in the table."""

    texts: npt.NDArray[np.str_]
    generic_weight: npt.NDArray[np.float64]
    product_start: I64
    farm_start: I64
    giveaway_start: int

    def giveaway(self, rng: np.random.Generator, n: int) -> I64:
        """Return ``n`` giveaway-entry comment codes, a few of them very common."""
        n_texts = len(_GIVEAWAY_ENTRIES) * len(_GIVEAWAY_SUFFIXES)
        weight = np.arange(1, n_texts + 1, dtype=np.float64) ** -1.2
        return self.giveaway_start + rng.choice(n_texts, size=n, p=weight / weight.sum())

    def honest(self, rng: np.random.Generator, campaign: I64) -> I64:
        """Return honest comment codes for comments on posts of these campaigns.

        About 12% name the product; some of those are the very praise lines
        click farms use, since real buyers write them too.
        """
        n = len(campaign)
        codes = rng.choice(len(self.generic_weight), size=n, p=self.generic_weight)
        kind = rng.random(n)
        question = self.product_start[campaign] + rng.integers(0, len(_HONEST_PRODUCT), n)
        praise = self.farm(
            campaign,
            rng.integers(0, N_FARM_TEMPLATES, n),
            rng.integers(0, len(FARM_VARIANTS), n),
        )
        codes = np.where(kind < 0.08, question, codes)
        return np.where(kind > 0.96, praise, codes).astype(np.int64)

    def farm(self, campaign: int | I64, templates: I64, variants: I64) -> I64:
        """Return click-farm comment codes for template and variant numbers."""
        return self.farm_start[campaign] + templates * len(FARM_VARIANTS) + variants


def build_text_bank(rng: np.random.Generator, campaign_products: list[str]) -> TextBank:
    """Return the comment table for campaigns promoting ``campaign_products``."""
    combos = [o + b + c for o in _OPENERS for b in _BODIES for c in _CLOSERS]
    combos = sorted(set(combos) - set(_SHORT))
    order = rng.permutation(len(combos))
    generic = list(_SHORT) + [combos[i] for i in order]
    rank = np.arange(1, len(generic) + 1, dtype=np.float64)
    weight = rank**-0.95
    texts: list[str] = list(generic)
    product_start, farm_start = [], []
    for product in campaign_products:
        product_start.append(len(texts))
        texts.extend(t.format(p=product) for t in _HONEST_PRODUCT)
        farm_start.append(len(texts))
        texts.extend(t.format(p=product) + v for t in _FARM_TEMPLATES for v in FARM_VARIANTS)
    giveaway_start = len(texts)
    texts.extend(e + s for e in _GIVEAWAY_ENTRIES for s in _GIVEAWAY_SUFFIXES)
    return TextBank(
        texts=np.array(texts, dtype=np.str_),
        generic_weight=weight / weight.sum(),
        product_start=np.array(product_start, dtype=np.int64),
        farm_start=np.array(farm_start, dtype=np.int64),
        giveaway_start=giveaway_start,
    )
