"""ONNX Runtime sessions: provider choice (CUDA first), thread counts, IO binding.

ONNX Runtime falls back to the CPU *silently* when a requested provider cannot be
created (missing CUDA libraries, no device). :func:`create_session` compares
``session.get_providers()`` with what was asked and logs a warning, so the providers
really in use are always known (:attr:`OnnxModel.providers`).

Example
-------
>>> resolve_providers(None, available=["CUDAExecutionProvider", "CPUExecutionProvider"])
['CUDAExecutionProvider', 'CPUExecutionProvider']
>>> resolve_providers(None, available=["AzureExecutionProvider", "CPUExecutionProvider"])
['CPUExecutionProvider']
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

__all__ = ["CPU", "CUDA", "OnnxModel", "create_session", "resolve_providers"]

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def resolve_providers(
    requested: Sequence[str] | None, *, available: Sequence[str] | None = None
) -> list[str]:
    """Providers to ask ONNX Runtime for, best first, always ending with the CPU.

    Parameters
    ----------
    requested
        ``None`` = CUDA when this onnxruntime build has it (``onnxruntime-gpu``), else CPU.
        An explicit list is kept in order; providers this build lacks are dropped with a
        warning.
    available
        Defaults to ``onnxruntime.get_available_providers()`` (a parameter for tests).

    Examples
    --------
    >>> resolve_providers(["CUDAExecutionProvider"], available=["CPUExecutionProvider"])
    ['CPUExecutionProvider']
    >>> resolve_providers(["CPUExecutionProvider"], available=["CUDAExecutionProvider", "CPUExecutionProvider"])
    ['CPUExecutionProvider']
    """
    avail = list(ort.get_available_providers() if available is None else available)
    if requested is None:
        chosen = [CUDA] if CUDA in avail else []
    else:
        chosen = []
        for p in requested:
            if p in avail:
                if p not in chosen:
                    chosen.append(p)
            else:
                log.warning(
                    "ONNX provider %s requested but this onnxruntime build has only %s; "
                    "install onnxruntime-gpu (the [gpu] extra) for CUDA",
                    p,
                    avail,
                )
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


def create_session(
    model_path: Path,
    providers: Sequence[str],
    *,
    intra_op_threads: int = 1,
    inter_op_threads: int = 1,
    device_id: int = 0,
) -> ort.InferenceSession:
    """An ``InferenceSession`` with explicit thread counts; warns when providers were dropped.

    Explicit thread counts matter: by default ONNX Runtime spins one thread per core,
    which starves the worker's event loop and the Kafka client on a small machine.

    Examples
    --------
    >>> from detectors.toxicity.bundle import default_bundle_dir
    >>> s = create_session(default_bundle_dir() / "profanity_svm.onnx", ["CPUExecutionProvider"])
    >>> s.get_providers()
    ['CPUExecutionProvider']
    """
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(intra_op_threads))
    so.inter_op_num_threads = max(1, int(inter_op_threads))
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # ORT's own fallback notice is replaced by ours below
    provider_args: list[str | tuple[str, dict[str, object]]] = []
    for p in providers:
        if p == CUDA:
            provider_args.append((CUDA, {"device_id": device_id}))
        else:
            provider_args.append(p)
    with warnings.catch_warnings():
        # ORT's own "not in available provider names" UserWarning; we log a clearer one below.
        warnings.simplefilter("ignore", UserWarning)
        sess = ort.InferenceSession(str(model_path), sess_options=so, providers=provider_args)
    used = sess.get_providers()
    missing = [p for p in providers if p not in used]
    if missing:
        log.warning(
            "ONNX Runtime did not enable %s for %s (using %s): check the CUDA/cuDNN libraries "
            "and the GPU; scoring continues on %s",
            missing,
            model_path.name,
            used,
            used[0] if used else "nothing",
        )
    else:
        log.info("ONNX session for %s uses %s", model_path.name, used)
    return sess


class OnnxModel:
    """A session plus the way to run it: IO binding on CUDA, plain ``run`` on the CPU.

    Parameters
    ----------
    session
        From :func:`create_session`.
    device_id
        CUDA device ordinal for IO binding.

    Examples
    --------
    >>> from detectors.toxicity.bundle import default_bundle_dir
    >>> m = OnnxModel(create_session(default_bundle_dir() / "profanity_svm.onnx", ["CPUExecutionProvider"]))
    >>> m.on_cuda, m.input_names
    (False, ['input_ids'])
    >>> m.run({"input_ids": np.zeros((2, 3), dtype=np.int64)}).shape
    (2, 1)
    """

    def __init__(self, session: ort.InferenceSession, device_id: int = 0) -> None:
        self.session = session
        self.providers: list[str] = list(session.get_providers())
        self.on_cuda = bool(self.providers) and self.providers[0] == CUDA
        self.device_id = device_id
        self.input_names = [i.name for i in session.get_inputs()]
        self.output_name = session.get_outputs()[0].name

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Run the model and return its first output as float32 on the host."""
        if self.on_cuda:
            return self._run_cuda(feeds)
        out = self.session.run([self.output_name], dict(feeds))[0]
        return np.asarray(out, dtype=np.float32)

    def _run_cuda(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        # IO binding: inputs are copied to the device once, the output stays on the device
        # until the single copy back, instead of ORT staging through its own host buffers.
        binding = self.session.io_binding()
        for name, arr in feeds.items():
            value = ort.OrtValue.ortvalue_from_numpy(
                np.ascontiguousarray(arr), "cuda", self.device_id
            )
            binding.bind_ortvalue_input(name, value)
        binding.bind_output(self.output_name, "cuda", self.device_id)
        self.session.run_with_iobinding(binding)
        out = binding.copy_outputs_to_cpu()[0]
        return np.asarray(out, dtype=np.float32)
