"""The small BERT and GPT that the course pre-trains on Python's documentation and ships as checkpoints."""
