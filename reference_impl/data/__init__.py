"""Data that needs no network: text and images shipped with installed packages, and generated sets."""
