"""The review console: risk-team pages under /review over the settlement services."""

# the router with every page: case_routes adds the case pages (and the catch-all, last) to routes'
from serving.review.case_routes import router
from serving.review.service import ReviewServices, build_review

__all__ = ["ReviewServices", "build_review", "router"]
