"""LLM cost/accuracy explorer: measure accuracy and cost of models x quantizations x tasks."""

__version__ = "0.1.0"
