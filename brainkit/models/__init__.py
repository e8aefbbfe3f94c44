"""The model: the sensor-aware tokenizer, the decoder (connector + query selection), the language
model loader and the checkpoint folder that holds them."""
