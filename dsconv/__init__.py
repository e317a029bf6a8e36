"""dsconv: labelled vision data → VQA datasets → fine-tuned small VLMs → scores."""

__version__ = "0.1.0"
