"""The model: the sensor-aware tokenizer (tokenizer.py, with embedding.py, quantizer.py and
reconstruction.py), the decoder (connector + query selection), the attention blocks both are built
from (layers.py), the language model loader and the checkpoint folder that holds them."""
