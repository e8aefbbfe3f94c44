"""Training of the tokenizer and the decoder, on one shared loop (resumable, DDP-ready)."""
