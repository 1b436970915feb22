"""Experiments above evaluation and training: the study protocol, sample efficiency, probes."""
