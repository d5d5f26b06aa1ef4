"""fraudgraph: anti-telecom-fraud detection on call and money graphs."""

__version__ = "0.1.0"
