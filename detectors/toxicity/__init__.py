"""Toxicity scoring with ONNX Runtime over verified model bundles.

Pure computation, no Kafka or ClickHouse: the stream worker calls
:meth:`ToxicityScorer.score_batch` on each batch of texts.

Example
-------
>>> from detectors.toxicity import ToxicityScorer
>>> scores = ToxicityScorer().score_batch(["have a nice day"])
>>> scores["toxicity"].shape
(1,)
"""

from detectors.toxicity.batching import MicroBatcher, length_buckets, pad_batch
from detectors.toxicity.bundle import (
    DETOXIFY_LABELS,
    Bundle,
    BundleError,
    MemberSpec,
    default_bundle_dir,
    load_bundle,
)
from detectors.toxicity.scorer import MemberRunner, ToxicityScorer
from detectors.toxicity.session import create_session, resolve_providers

__all__ = [
    "DETOXIFY_LABELS",
    "Bundle",
    "BundleError",
    "MemberRunner",
    "MemberSpec",
    "MicroBatcher",
    "ToxicityScorer",
    "create_session",
    "default_bundle_dir",
    "length_buckets",
    "load_bundle",
    "pad_batch",
    "resolve_providers",
]
