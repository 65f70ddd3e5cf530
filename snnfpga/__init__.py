"""snnfpga: a spiking character-level language model that runs whole on a small open FPGA.

The public API::

    import snnfpga
    text = snnfpga.generate("ROMEO:", max_new_tokens=100, temperature=0.8, seed=1)
"""

from .model.errors import ModelError, SnnfpgaError
from .model.modelfile import SpikingModel, load_model, save_model
from .sw_driver.api import default_model_path, generate, generate_stream, load

__all__ = [
    "ModelError", "SnnfpgaError", "SpikingModel", "default_model_path", "generate",
    "generate_stream", "load", "load_model", "save_model",
]
__version__ = "0.1.0"
