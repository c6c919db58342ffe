"""Training configurations (ml_collections); see common.py for every field."""
