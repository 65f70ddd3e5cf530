"""The spiking language model: configuration, integer golden model, training, evaluation."""
