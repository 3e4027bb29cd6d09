"""Analysis (pure Polars): cost, Pareto frontier, aggregation, recommendation; charts (pure Altair)."""
