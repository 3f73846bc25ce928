"""A dataset's FID reference statistics, computed through the chosen image pipeline and cached
by content (``reference.cached_statistics``); what `bench eval` and `bench refstats` use."""

from __future__ import annotations

import numpy as np

PROBE_IMAGES = 16


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
        if pipeline == "harness":  # through the feature cache, which KID and precision/recall read too
            from harness.metrics.feature_cache import dataset_features, real_feature_extraction

            extract = real_feature_extraction(dataset, extractor)
            return feature_statistics(dataset_features(dataset, extractor) if use_cache else extract())
        from harness.metrics import clean_fid_backend

        return feature_statistics(clean_fid_backend.features(dataset.images, extractor, mode))

    parts = {"dataset_sha256": dataset.sha256, "extractor": extractor.name, "weights_sha256": extractor.weights_sha256,
             "feature_layer": getattr(extractor, "feature_layer", None), "pipeline": pipeline}
    def probe() -> np.ndarray:  # 16 fixed images spread over the dataset, through the same pipeline
        index = np.linspace(0, len(dataset) - 1, num=min(PROBE_IMAGES, len(dataset))).round().astype(np.int64)
        if pipeline == "harness":
            return extractor(dataset.images[index]).numpy()  # uint8, as a float image is rounded anyway
        from harness.metrics import clean_fid_backend

        return np.asarray(clean_fid_backend.features(dataset.images[index], extractor, mode))

    return cached_statistics(parts, compute, reference_record(dataset), mode, use_cache, probe=probe)
