"""Training: datasets from expert episodes and generic captions, SFT and GRPO with TRL."""
