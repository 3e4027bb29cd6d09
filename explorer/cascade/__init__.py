"""Tiered deployments: cascades and routing simulated on measured per-document results (pure Polars; no model).

- `confidence`: per document and configuration, whether it was right and how sure it was (max softmax over the
  choices' log-likelihoods, the margin between the top two).
- `simulate`: route documents down a chain at given thresholds; accuracy and the share of traffic each tier sees.
- `fit`: a seeded split of the documents; thresholds fitted on one part, reported on the other.
- `cost`: each tier as a fleet sized for the traffic that reaches it (`explorer.deployment.fleet`), latency of an
  escalated query = the sum of the tiers it went through.
- `metrics`: the references (each single configuration, the oracle router, random escalation at the same rates)
  and RouteLLM's PGR / APGR / CPT, RouterBench's AIQ.
- `report`: the chain from a deployment table and the samples, everything above as one JSON-ready dict (CLI, app).
"""
