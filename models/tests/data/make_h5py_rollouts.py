"""Writes the h5py fixtures of models/tests/regress_cli.rs: rollout files as
simulation code writes them with h5py and NumPy (run with a Python that has
h5py; Debian: python3-h5py).

* h5py_vlen.h5: float64 param_state, variable-length UTF-8 parameter_names
  (h5py's default for a list of str), NumPy bool_ success attributes.
* h5py_fixed.h5: float32 param_state, fixed-length ASCII parameter_names
  (a NumPy 'S' array), success stored as 0/1 int8, one rollout without
  a success attribute.

The output is cot = 3 + stride - cadence / 2 (no noise), so a test can check
what it reads.
"""
import sys

import h5py
import numpy as np

names = ["gait_stride", "gait_cadence", "gait_width"]
rng = np.random.default_rng(7)
out = sys.argv[1] if len(sys.argv) > 1 else "."

with h5py.File(f"{out}/h5py_vlen.h5", "w") as f:
    f.create_group("metadata").attrs["note"] = "written by h5py"
    f.create_dataset("parameter_names", data=names, dtype=h5py.string_dtype())
    for i in range(12):
        g = f.create_group(f"param_{i}")
        s = rng.uniform([0.8, 1.2, 0.1], [1.8, 2.4, 0.3])
        g.create_dataset("param_state", data=s.astype(np.float64))
        g.attrs["success"] = np.bool_(i != 5)
        g.attrs["metabolic/cot/MA/mean"] = np.float64(3 + s[0] - s[1] / 2)

with h5py.File(f"{out}/h5py_fixed.h5", "w") as f:
    f.create_dataset("parameter_names", data=np.array(names, dtype="S"))
    for i in range(8):
        g = f.create_group(f"param_{i}")
        s = rng.uniform([0.8, 1.2, 0.1], [1.8, 2.4, 0.3]).astype(np.float32)
        g.create_dataset("param_state", data=s)
        if i != 3:
            g.attrs["success"] = np.int8(i != 6)
        g.attrs["metabolic/cot/MA/mean"] = np.float32(3 + s[0] - s[1] / 2)
