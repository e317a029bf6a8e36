"""Fine-tuning: one loop, one adapter per model family. Needs the `train` extra."""
