"""Evaluation: pure metric functions and paired tests (``metrics``), neuron selectivity and embeddings
(``selectivity``), run reports (``report``)."""
