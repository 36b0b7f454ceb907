"""tocsin: monitor LLM services in production and act on what you see."""

__version__ = "0.1.0"
