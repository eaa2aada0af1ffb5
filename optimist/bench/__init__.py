"""Measurement helpers of `optimist bench` (each function measures; nothing here is a constant)."""
