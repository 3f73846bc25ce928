"""A dataset's FID reference statistics, computed through the chosen image pipeline and cached
by content (``reference.cached_statistics``); what `bench eval` and `bench refstats` use."""

from __future__ import annotations

import numpy as np


def dataset_statistics(dataset, extractor, implementation: str = "own", use_cache: bool = True):
    """FID reference statistics of all of ``dataset`` in ``extractor`` features through the image
    pipeline of ``implementation``, cached by a hash of the dataset content, weights and pipeline."""
    from harness.metrics import reference_record
    from harness.metrics.fid import fid_mode
    from harness.metrics.frechet import feature_statistics
    from harness.metrics.reference import cached_statistics

    mode = fid_mode(implementation)
    pipeline = "harness" if implementation in ("own", "torch-fidelity") else implementation

    def compute() -> tuple[np.ndarray, np.ndarray]:
        if pipeline == "harness":
            from harness.metrics.feature_cache import real_feature_extraction

            return feature_statistics(real_feature_extraction(dataset, extractor)())
        from harness.metrics import clean_fid_backend

        return feature_statistics(clean_fid_backend.features(dataset.images, extractor, mode))

    parts = {"dataset_sha256": dataset.sha256, "extractor": extractor.name, "weights_sha256": extractor.weights_sha256,
             "feature_layer": getattr(extractor, "feature_layer", None), "pipeline": pipeline}
    return cached_statistics(parts, compute, reference_record(dataset), mode, use_cache)
