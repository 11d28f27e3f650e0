"""ssd: synthetic speech detection (spoofing countermeasures) toolkit and recipes."""

__version__ = "0.1.0"
