"""clean-fid 0.1.35 calls ``scipy.linalg.sqrtm(A, disp=False)``, which scipy 1.18 removed (the GPU
image's scipy may be that new): the backend's stand-in takes ``disp`` and returns what old scipy did."""

from __future__ import annotations

import numpy as np
from scipy import linalg

from harness.metrics.clean_fid_backend import _LinalgWithDisp


def test_sqrtm_with_disp_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    spd = a @ a.T + np.eye(6)
    compat = _LinalgWithDisp(linalg)
    root, error = compat.sqrtm(spd, disp=False)
    assert np.allclose(root @ root, spd) and 0 <= error < 1e-10
    assert np.array_equal(compat.sqrtm(spd), root)
    assert compat.norm is linalg.norm  # everything else is scipy's own
