"""``clocks claims``: does the tool reproduce the abstracts' claims, and where does it differ (docs/claims.md)."""
