"""Visualization: neuron selectivity (the paper's figure), Grad-CAM, embeddings, curves, confusion."""
