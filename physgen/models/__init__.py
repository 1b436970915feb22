"""Model building: recipes, architectures, the offline tokenizer, local Hub checkpoints, the image-only processor."""
