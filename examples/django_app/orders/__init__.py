"""The example's app: an ``Order`` owned by the user who placed it."""
