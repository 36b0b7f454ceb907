"""Score texts with a bundle: one ONNX session per member, length-bucketed batches.

Example
-------
>>> scorer = ToxicityScorer()          # the default bundle, CPU unless onnxruntime-gpu is installed
>>> s = scorer.score_batch(["Thanks, that fixed it!", "Shut up, you pathetic idiot."])
>>> sorted(s)
['identity_attack', 'insult', 'obscene', 'severe_toxicity', 'threat', 'toxicity']
>>> bool(s["toxicity"][1] > 0.5 > s["toxicity"][0])
True
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from detectors.toxicity.batching import length_buckets, pad_batch
from detectors.toxicity.bundle import Bundle, MemberSpec, default_bundle_dir, load_bundle
from detectors.toxicity.chunking import chunk_texts, max_per_owner
from detectors.toxicity.ensemble import combine_outputs
from detectors.toxicity.session import OnnxModel, create_session, resolve_providers
from detectors.toxicity.tokenization import MemberEncoder

__all__ = ["MemberRunner", "ToxicityScorer"]

log = logging.getLogger(__name__)


class MemberRunner:
    """Tokenize, bucket, pad and run one member's ONNX model.

    Parameters
    ----------
    encoder
        The member's tokenizer wrapper.
    model
        The member's session.
    batch_size
        Texts per ONNX run.

    Examples
    --------
    >>> b = load_bundle(default_bundle_dir())
    >>> r = MemberRunner.from_files(b.path, b.members[1], providers=["CPUExecutionProvider"])
    >>> r.predict(["hello there", "fuck off"]).shape
    (2, 1)
    """

    def __init__(self, encoder: MemberEncoder, model: OnnxModel, batch_size: int = 64) -> None:
        self.encoder = encoder
        self.model = model
        self.spec = encoder.spec
        self.batch_size = batch_size
        names = set(model.input_names)
        wanted = {
            n
            for n in (self.spec.input_ids, self.spec.attention_mask, self.spec.token_type_ids)
            if n
        }
        if wanted != names:
            raise ValueError(
                f"member {self.spec.name}: the ONNX model's inputs {sorted(names)} do not match the "
                f"manifest's {sorted(wanted)}; fix the manifest or re-export the bundle"
            )

    @classmethod
    def from_files(
        cls,
        root: Path,
        spec: MemberSpec,
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int = 1,
        batch_size: int = 64,
        prefer_fp16: bool = True,
    ) -> MemberRunner:
        """Open the member's session (its fp16 variant when on CUDA) and tokenizer."""
        from tokenizers import Tokenizer

        chosen = resolve_providers(providers)
        model_file = spec.model
        if spec.model_fp16 and prefer_fp16 and chosen[0] == "CUDAExecutionProvider":
            model_file = spec.model_fp16
        session = create_session(Path(root) / model_file, chosen, intra_op_threads=intra_op_threads)
        model = OnnxModel(session)
        if model_file != spec.model and not model.on_cuda:
            # CUDA was asked for but not enabled: the fp32 model is the right one for the CPU.
            session = create_session(
                Path(root) / spec.model, ["CPUExecutionProvider"], intra_op_threads=intra_op_threads
            )
            model = OnnxModel(session)
        encoder = MemberEncoder(Tokenizer.from_file(str(Path(root) / spec.tokenizer)), spec)
        return cls(encoder, model, batch_size=batch_size)

    @property
    def providers(self) -> list[str]:
        return self.model.providers

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Model outputs ``[len(texts), len(output_labels)]`` (float32), in input order."""
        spec = self.spec
        n_out = len(spec.output_labels)
        out = np.zeros((len(texts), n_out), dtype=np.float32)
        if not texts:
            return out
        seqs = self.encoder.encode(texts)
        lengths = np.fromiter((s.shape[0] for s in seqs), dtype=np.int64, count=len(seqs))
        fixed = spec.max_length if spec.fixed_length else None
        for idx in length_buckets(lengths, self.batch_size):
            ids, mask = pad_batch(
                [seqs[i] for i in idx], pad_id=spec.pad_id, side=spec.padding_side, length=fixed
            )
            feeds = {spec.input_ids: ids}
            if spec.attention_mask:
                feeds[spec.attention_mask] = mask
            if spec.token_type_ids:
                feeds[spec.token_type_ids] = np.zeros_like(ids)
            out[idx] = self.model.run(feeds).reshape(len(idx), n_out)
        return out


class ToxicityScorer:
    """Scores batches of texts with a verified bundle.

    Parameters
    ----------
    bundle
        A :class:`Bundle`, a bundle directory, or ``None`` for the bundle shipped with tocsin.
    providers
        ONNX Runtime providers; ``None`` = CUDA when available (``onnxruntime-gpu``), else CPU.
    intra_op_threads
        Threads per ONNX session (explicit, so inference does not starve the event loop).
    batch_size
        Texts per ONNX run inside :meth:`score_batch` (after length bucketing).
    prefer_fp16
        Use a member's fp16 model when running on CUDA.
    member_threads
        Run up to this many members concurrently (ONNX Runtime releases the GIL). 1 keeps
        everything on the calling thread; 2 uses both cores of a small machine.

    Examples
    --------
    >>> scorer = ToxicityScorer(batch_size=32)
    >>> scorer.labels[0], scorer.providers["jigsaw-bilstm"]
    ('toxicity', ['CPUExecutionProvider'])
    >>> round(float(scorer.score("")["toxicity"]), 2) < 0.5
    True
    """

    def __init__(
        self,
        bundle: Bundle | str | Path | None = None,
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int = 1,
        batch_size: int = 64,
        prefer_fp16: bool = True,
        member_threads: int = 1,
    ) -> None:
        if bundle is None:
            bundle = default_bundle_dir()
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.labels = self.bundle.labels
        self.batch_size = batch_size
        self.runners = [
            MemberRunner.from_files(
                self.bundle.path,
                spec,
                providers=providers,
                intra_op_threads=intra_op_threads,
                batch_size=batch_size,
                prefer_fp16=prefer_fp16,
            )
            for spec in self.bundle.members
        ]
        self._pool = (
            ThreadPoolExecutor(max_workers=member_threads, thread_name_prefix="toxicity-member")
            if member_threads > 1 and len(self.runners) > 1
            else None
        )
        log.info(
            "toxicity bundle %s %s loaded; providers %s",
            self.bundle.name,
            self.bundle.version,
            self.providers,
        )

    @property
    def providers(self) -> dict[str, list[str]]:
        """Providers actually in use, per member."""
        return {r.spec.name: r.providers for r in self.runners}

    def member_scores(self, texts: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
        """Raw outputs per member: member → label → scores."""
        if self._pool is not None:
            raws = list(self._pool.map(lambda r: r.predict(texts), self.runners))
        else:
            raws = [r.predict(texts) for r in self.runners]
        return {
            r.spec.name: {lab: raw[:, j] for j, lab in enumerate(r.spec.output_labels)}
            for r, raw in zip(self.runners, raws, strict=True)
        }

    def close(self) -> None:
        """Stop the member thread pool (sessions are freed with the object)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def score_batch(
        self, texts: Sequence[str], *, chunk_chars: int | None = None
    ) -> dict[str, np.ndarray]:
        """label → probabilities ``[len(texts)]`` (float32), in input order.

        Any input is accepted: empty strings, lone surrogates and ``bytes`` are made safe,
        very long texts are truncated to each member's token budget. With ``chunk_chars``,
        texts longer than that are scored in sentence-aligned chunks and each label keeps
        its maximum over the chunks (see :mod:`detectors.toxicity.chunking`).
        """
        texts = list(texts)
        if not texts:
            return {lab: np.zeros(0, dtype=np.float32) for lab in self.labels}
        if chunk_chars:
            safe = [t if isinstance(t, str) else bytes(t).decode("utf-8", "replace") for t in texts]
            chunks, owner = chunk_texts(safe, chunk_chars)
            if len(chunks) > len(texts):
                scores = combine_outputs(
                    self.labels, self.bundle.combine, self.member_scores(chunks)
                )
                return {lab: max_per_owner(v, owner, len(texts)) for lab, v in scores.items()}
        return combine_outputs(self.labels, self.bundle.combine, self.member_scores(texts))

    def score(self, text: str) -> dict[str, float]:
        """Scores of one text (prefer :meth:`score_batch` or a :class:`MicroBatcher`)."""
        return {lab: float(v[0]) for lab, v in self.score_batch([text]).items()}
