"""Evaluation: pure metric functions and paired tests (``metrics``), calibration (``calibration``), neuron
selectivity and embeddings (``selectivity``), run reports (``report``)."""
