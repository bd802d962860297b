"""The review console: risk-team pages under /review over the settlement services."""

from serving.review.routes import router
from serving.review.service import ReviewServices, build_review

__all__ = ["ReviewServices", "build_review", "router"]
