"""Build tocsin's default toxicity bundle from three MIT-licensed models shipped on PyPI.

Run ONCE, at build time, in a throwaway virtualenv (TensorFlow and scikit-learn must
never enter the project's environment; the bundle it writes needs only onnxruntime,
tokenizers and numpy)::

    python3.11 -m venv /work/buildenv-tox
    /work/buildenv-tox/bin/pip install toxic-comment-classifier==0.3.0 \
        alt-profanity-check==1.9.1 hatesonar==0.1.0 scikit-learn==1.9.1 joblib==1.6.0 \
        tensorflow h5py onnx onnxruntime tokenizers numpy
    /work/buildenv-tox/bin/python infra/models/build_default_bundle.py \
        --out detectors/toxicity/bundles/default

Members (all MIT):

* ``jigsaw-bilstm`` — ``toxic-comment-classifier`` 0.3.0: Keras embedding + BiLSTM trained on
  the Jigsaw toxic comments data, Detoxify's six labels. Its Keras tokenizer becomes a
  ``tokenizers`` WordLevel tokenizer (same filters, lower-casing, 20k words, unknown words
  dropped, left padding/truncation to 100); the weights (``model.weights.h5``) become an
  ONNX graph (Gather → bidirectional LSTM → max-pool → Dense → Dense → Sigmoid).
* ``profanity-svm`` — ``alt-profanity-check`` 1.9.1: TF-IDF + 5 calibrated linear SVMs.
* ``hatesonar-lr`` — ``hatesonar`` 0.1.0: TF-IDF + multinomial logistic regression (3 classes;
  toxicity = P(hate) + P(offensive)).

The TF-IDF members are rebuilt as ONNX graphs over token ids (term counts from an id
equality matrix, idf weights, L2 norm, linear head), so no string ops (whose
``StringNormalizer`` needs an ``en_US.UTF-8`` locale) and no scikit-learn at run time.

Every member is checked against its original implementation (TensorFlow/Keras, scikit-learn,
the original hatesonar ONNX graph) on a generated corpus; the build fails when the max
abs difference exceeds ``--tolerance``.

Combination (``toxicity``): the mean of the three members' probabilities (soft voting; each
member is a calibrated probability model of its own training target). The other five
labels come from the BiLSTM alone. The generated reference corpus (word salad sampled from
the Jigsaw word counts shipped in ``toxic-comment-classifier``) is used for the parity checks.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import pickle
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from detectors.toxicity.bundle import MemberSpec, write_manifest  # noqa: E402

OPSET = 17
JIGSAW_LABELS = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]


# ---------------------------------------------------------------- ONNX graph builders
def _init(name: str, arr: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(arr), name)


def _model(nodes: list[Any], inits: list[Any], out_dim: int, name: str) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", out_dim])],
        initializer=inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def bilstm_onnx(weights_h5: Path) -> onnx.ModelProto:
    """Embedding → BiLSTM(50, sequences) → GlobalMaxPool → Dense(50, relu) → Dense(6, sigmoid)."""
    import h5py

    with h5py.File(weights_h5, "r") as f:
        g = f["layers"]
        emb = g["embedding/vars/0"][()].astype(np.float32)
        lstm = {
            d: [
                g[f"bidirectional/{d}_layer/cell/vars/{i}"][()].astype(np.float32) for i in range(3)
            ]
            for d in ("forward", "backward")
        }
        d1w, d1b = (g[f"dense/vars/{i}"][()].astype(np.float32) for i in range(2))
        d2w, d2b = (g[f"dense_1/vars/{i}"][()].astype(np.float32) for i in range(2))
    units = lstm["forward"][1].shape[0]

    def reorder(m: np.ndarray) -> np.ndarray:  # Keras gates i,f,c,o → ONNX i,o,f,c (last axis)
        i, f_, c, o = np.split(m, 4, axis=-1)
        return np.concatenate([i, o, f_, c], axis=-1)

    W = np.stack([reorder(lstm[d][0]).T for d in ("forward", "backward")])  # [2, 4u, in]
    R = np.stack([reorder(lstm[d][1]).T for d in ("forward", "backward")])  # [2, 4u, u]
    B = np.stack(
        [
            np.concatenate([reorder(lstm[d][2]), np.zeros(4 * units, np.float32)])
            for d in ("forward", "backward")
        ]
    )  # [2, 8u]
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["x"]),
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        helper.make_node(
            "LSTM", ["xt", "W", "R", "B"], ["y"], hidden_size=units, direction="bidirectional"
        ),
        helper.make_node("ReduceMax", ["y"], ["pooled"], axes=[0], keepdims=0),
        helper.make_node("Transpose", ["pooled"], ["pooled_t"], perm=[1, 0, 2]),
        helper.make_node("Reshape", ["pooled_t", "flat_shape"], ["h0"]),
        helper.make_node("MatMul", ["h0", "d1w"], ["h1a"]),
        helper.make_node("Add", ["h1a", "d1b"], ["h1b"]),
        helper.make_node("Relu", ["h1b"], ["h1"]),
        helper.make_node("MatMul", ["h1", "d2w"], ["h2a"]),
        helper.make_node("Add", ["h2a", "d2b"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
    ]
    inits = [
        _init("emb", emb),
        _init("W", W),
        _init("R", R),
        _init("B", B),
        _init("flat_shape", np.array([-1, 2 * units], np.int64)),
        _init("d1w", d1w),
        _init("d1b", d1b),
        _init("d2w", d2w),
        _init("d2b", d2b),
    ]
    return _model(nodes, inits, d2w.shape[1], "jigsaw_bilstm")


def tfidf_linear_onnx(
    idf: np.ndarray,
    coef: np.ndarray,
    intercept: np.ndarray,
    head: str,
    head_params: dict[str, Any],
    name: str,
) -> onnx.ModelProto:
    """TF-IDF (raw counts × idf, L2-normalised) then a linear head, over token ids (0 = pad/unknown).

    ``idf``: [V] (index 0 must be 0); ``coef``: [V, K] weights per id; ``intercept``: [K].
    Counts come from an id-equality matrix: for position i, count_i = #{j : id_j = id_i};
    then ||x||² = Σ_i count_i·idf_i² and w·x = Σ_i w_i·idf_i (each distinct id appears count times).
    """
    wt = (coef * idf[:, None]).astype(np.float32)
    nodes = [
        helper.make_node("Unsqueeze", ["input_ids", "ax2"], ["ids_a"]),
        helper.make_node("Unsqueeze", ["input_ids", "ax1"], ["ids_b"]),
        helper.make_node("Equal", ["ids_a", "ids_b"], ["eq"]),
        helper.make_node("Cast", ["eq"], ["eqf"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["eqf", "ax2"], ["counts"], keepdims=0),
        helper.make_node("Gather", ["idf", "input_ids"], ["idf_g"]),
        helper.make_node("Mul", ["idf_g", "idf_g"], ["idf2"]),
        helper.make_node("Mul", ["counts", "idf2"], ["cidf2"]),
        helper.make_node("ReduceSum", ["cidf2", "ax1"], ["norm2"], keepdims=1),
        helper.make_node("Max", ["norm2", "eps"], ["norm2c"]),
        helper.make_node("Sqrt", ["norm2c"], ["norm"]),
        helper.make_node("Gather", ["wt", "input_ids"], ["w_g"]),
        helper.make_node("ReduceSum", ["w_g", "ax1"], ["dot"], keepdims=0),
        helper.make_node("Div", ["dot", "norm"], ["dotn"]),
        helper.make_node("Add", ["dotn", "intercept"], ["z"]),
    ]
    inits = [
        _init("ax1", np.array([1], np.int64)),
        _init("ax2", np.array([2], np.int64)),
        _init("eps", np.array([1e-12], np.float32)),
        _init("idf", idf.astype(np.float32)),
        _init("wt", wt),
        _init("intercept", intercept.astype(np.float32)),
    ]
    if head == "svm_sigmoid_mean":
        # sklearn _SigmoidCalibration: p = expit(-(a·z + b)); CalibratedClassifierCV averages.
        nodes += [
            helper.make_node("Mul", ["z", "neg_a"], ["za"]),
            helper.make_node("Sub", ["za", "b"], ["zb"]),
            helper.make_node("Sigmoid", ["zb"], ["pk"]),
            helper.make_node("ReduceMean", ["pk"], ["probabilities"], axes=[1], keepdims=1),
        ]
        inits += [
            _init("neg_a", -np.asarray(head_params["a"], np.float32)),
            _init("b", np.asarray(head_params["b"], np.float32)),
        ]
    elif head == "softmax_sum":
        nodes += [
            helper.make_node("Softmax", ["z"], ["p"], axis=1),
            helper.make_node("Gather", ["p", "pos"], ["ppos"], axis=1),
            helper.make_node("ReduceSum", ["ppos", "ax1"], ["probabilities"], keepdims=1),
        ]
        inits += [_init("pos", np.asarray(head_params["positive"], np.int64))]
    else:
        raise ValueError(head)
    return _model(nodes, inits, 1, name)


# ---------------------------------------------------------------- tokenizers
def _class_regex(chars: str) -> str:
    esc = {"\t": "\\t", "\n": "\\n"}
    return "[" + "".join(esc.get(c, "\\" + c if not c.isalnum() else c) for c in chars) + "]"


def wordlevel_tokenizer(
    vocab: dict[str, int], unk_id: int, normalizer: Any, pre_tokenizer: Any
) -> Any:
    from tokenizers import Tokenizer, models

    vocab = dict(vocab)
    vocab["[UNK]"] = unk_id
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    return tok


# ---------------------------------------------------------------- members
def build_bilstm(out: Path, corpus: list[str], tol: float) -> tuple[MemberSpec, dict[str, Any]]:
    import toxic_classifier
    from tokenizers import Regex, normalizers, pre_tokenizers

    pkg = Path(toxic_classifier.__file__).parent / "model"
    with (pkg / "tokenizer.pickle").open("rb") as f:
        ktok = pickle.load(f)
    assert ktok.split == " " and ktok.lower and not ktok.char_level and ktok.oov_token is None
    num_words = int(ktok.num_words)
    vocab = {w: i for w, i in ktok.word_index.items() if i < num_words}
    tok = wordlevel_tokenizer(
        vocab,
        num_words,
        normalizers.Sequence(
            [normalizers.Lowercase(), normalizers.Replace(Regex(_class_regex(ktok.filters)), " ")]
        ),
        pre_tokenizers.Split(" ", behavior="removed"),
    )
    tok.save(str(out / "jigsaw_bilstm.tokenizer.json"))
    model = bilstm_onnx(pkg / "model.weights.h5")
    onnx.save(model, str(out / "jigsaw_bilstm.onnx"))
    spec = MemberSpec(
        name="jigsaw-bilstm",
        model="jigsaw_bilstm.onnx",
        tokenizer="jigsaw_bilstm.tokenizer.json",
        output_labels=tuple(JIGSAW_LABELS),
        max_length=100,
        padding_side="left",
        truncation_side="left",
        pad_id=0,
        fixed_length=True,
        drop_ids=(num_words,),
        license="MIT",
        provenance={
            "pypi": f"toxic-comment-classifier=={md.version('toxic-comment-classifier')}",
            "files": [
                "toxic_classifier/model/model.weights.h5",
                "toxic_classifier/model/tokenizer.pickle",
            ],
            "architecture": "Keras Embedding(20000,50) + BiLSTM(50) + max-pool + Dense(50) + Dense(6)",
            "training_data": "Jigsaw Toxic Comment Classification (Wikipedia talk pages)",
            "label_map": dict(
                zip(
                    ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"],
                    JIGSAW_LABELS,
                    strict=True,
                )
            ),
        },
    )
    # Parity against the original Keras model.
    from tensorflow.keras.preprocessing.sequence import pad_sequences
    from toxic_classifier.model import ToxicCommentClassifier

    clf = ToxicCommentClassifier()
    sample = corpus[:2000]
    ref = clf.model.predict(
        pad_sequences(ktok.texts_to_sequences(sample), maxlen=100), verbose=0, batch_size=256
    )
    ours = _run_member(out, spec, sample)
    diff = float(np.max(np.abs(ref - ours)))
    print(f"jigsaw-bilstm: parity max|keras - onnx| = {diff:.2e} on {len(sample)} texts")
    if diff > tol:
        raise SystemExit(f"jigsaw-bilstm parity failed: {diff} > {tol}")
    return spec, {
        "parity_max_abs_diff": diff,
        "parity_reference": "tensorflow.keras " + md.version("tensorflow"),
    }


def build_profanity(out: Path, corpus: list[str], tol: float) -> tuple[MemberSpec, dict[str, Any]]:
    from profanity_check import profanity_check as pc
    from tokenizers import Regex, normalizers, pre_tokenizers

    vec, cal = pc.vectorizer, pc.model
    assert vec.ngram_range == (1, 1) and vec.norm == "l2" and not vec.sublinear_tf and vec.lowercase
    assert vec.token_pattern == r"(?u)\b\w\w+\b"
    V = len(vec.vocabulary_)
    vocab = {w: int(c) + 1 for w, c in vec.vocabulary_.items()}
    idf = np.concatenate([[0.0], vec.idf_])
    coefs, intercepts, a, b = [], [], [], []
    for cc in cal.calibrated_classifiers_:
        assert cc.method == "sigmoid" and len(cc.calibrators) == 1
        coefs.append(np.concatenate([[0.0], cc.estimator.coef_.ravel()]))
        intercepts.append(float(cc.estimator.intercept_[0]))
        a.append(float(cc.calibrators[0].a_))
        b.append(float(cc.calibrators[0].b_))
    coef = np.stack(coefs, axis=1)  # [V+1, K]
    assert coef.shape == (V + 1, len(coefs))
    tok = wordlevel_tokenizer(
        vocab,
        0,
        normalizers.Lowercase(),
        pre_tokenizers.Split(Regex(r"\w\w+"), behavior="removed", invert=True),
    )
    tok.save(str(out / "profanity_svm.tokenizer.json"))
    model = tfidf_linear_onnx(
        idf, coef, np.asarray(intercepts), "svm_sigmoid_mean", {"a": a, "b": b}, "profanity_svm"
    )
    onnx.save(model, str(out / "profanity_svm.onnx"))
    spec = MemberSpec(
        name="profanity-svm",
        model="profanity_svm.onnx",
        tokenizer="profanity_svm.tokenizer.json",
        output_labels=("toxicity",),
        max_length=256,
        drop_ids=(0,),
        license="MIT",
        provenance={
            "pypi": f"alt-profanity-check=={md.version('alt-profanity-check')}",
            "files": [
                "profanity_check/data/vectorizer.joblib",
                "profanity_check/data/model.joblib",
            ],
            "architecture": "TF-IDF (15k words, English stop words removed) + 5 sigmoid-calibrated LinearSVC, averaged",
            "converted_with": f"scikit-learn=={md.version('scikit-learn')} (weights read from the estimators)",
        },
    )
    sample = corpus[:5000]
    ref = pc.predict_prob(sample)
    ours = _run_member(out, spec, sample)[:, 0]
    diff = float(np.max(np.abs(ref - ours)))
    print(f"profanity-svm: parity max|sklearn - onnx| = {diff:.2e} on {len(sample)} texts")
    if diff > tol:
        raise SystemExit(f"profanity-svm parity failed: {diff} > {tol}")
    return spec, {
        "parity_max_abs_diff": diff,
        "parity_reference": "scikit-learn " + md.version("scikit-learn"),
    }


def build_hatesonar(out: Path, corpus: list[str], tol: float) -> tuple[MemberSpec, dict[str, Any]]:
    import hatesonar
    from tokenizers import Regex, normalizers, pre_tokenizers

    src = Path(hatesonar.__file__).parent / "model" / "model.onnx"
    m = onnx.load(str(src))
    nodes = {n.op_type: n for n in m.graph.node}
    attrs = {
        op: {a.name: helper.get_attribute_value(a) for a in nodes[op].attribute}
        for op in ("Tokenizer", "TfIdfVectorizer", "LinearClassifier", "StringNormalizer")
    }
    assert attrs["Tokenizer"]["tokenexp"] == b"[a-zA-Z0-9_]+"
    assert (
        attrs["TfIdfVectorizer"]["mode"] == b"TF"
        and attrs["TfIdfVectorizer"]["max_gram_length"] == 1
    )
    assert attrs["LinearClassifier"]["post_transform"] == b"SOFTMAX"
    pool = [s.decode("utf-8") for s in attrs["TfIdfVectorizer"]["pool_strings"]]
    cols = list(attrs["TfIdfVectorizer"]["ngram_indexes"])
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    idf_col = init["idfcst"].astype(np.float64)
    V = len(idf_col)
    K = len(attrs["LinearClassifier"]["intercepts"])
    coef_cols = (
        np.asarray(attrs["LinearClassifier"]["coefficients"], np.float64).reshape(K, V).T
    )  # [V, K]
    vocab = {w: int(c) + 1 for w, c in zip(pool, cols, strict=True)}
    idf = np.concatenate([[0.0], idf_col])
    coef = np.concatenate([np.zeros((1, K)), coef_cols])
    classes = list(attrs["LinearClassifier"]["classlabels_ints"])
    # hatesonar classes: 0 hate_speech, 1 offensive_language, 2 neither.
    positive = [classes.index(0), classes.index(1)]
    tok = wordlevel_tokenizer(
        vocab,
        0,
        normalizers.Lowercase(),
        pre_tokenizers.Split(Regex("[a-zA-Z0-9_]+"), behavior="removed", invert=True),
    )
    tok.save(str(out / "hatesonar_lr.tokenizer.json"))
    model = tfidf_linear_onnx(
        idf,
        coef,
        np.asarray(attrs["LinearClassifier"]["intercepts"]),
        "softmax_sum",
        {"positive": positive},
        "hatesonar_lr",
    )
    onnx.save(model, str(out / "hatesonar_lr.onnx"))
    spec = MemberSpec(
        name="hatesonar-lr",
        model="hatesonar_lr.onnx",
        tokenizer="hatesonar_lr.tokenizer.json",
        output_labels=("toxicity",),
        max_length=256,
        drop_ids=(0,),
        license="MIT",
        provenance={
            "pypi": f"hatesonar=={md.version('hatesonar')}",
            "files": ["hatesonar/model/model.onnx"],
            "architecture": "TF-IDF + multinomial logistic regression, classes hate/offensive/neither",
            "training_data": "Davidson et al. 2017 hate speech and offensive language tweets",
            "output": "P(hate_speech) + P(offensive_language)",
        },
    )
    # Parity against the original graph; its StringNormalizer wants a locale this machine may
    # lack, so the reference run uses C.UTF-8 (lower-casing of ASCII is identical).
    for n in m.graph.node:
        if n.op_type == "StringNormalizer":
            n.attribute.append(helper.make_attribute("locale", "C.UTF-8"))
    m.graph.output.append(helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, None))
    import onnxruntime as ort

    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    sample = [t for t in corpus[:5000] if t.isascii()]
    probs = np.stack(
        [
            sess.run(["probabilities"], {"text": np.array([t], dtype=object)})[0][0]
            for t in sample[:1500]
        ]
    )
    ref = probs[:, positive].sum(axis=1)
    ours = _run_member(out, spec, sample[:1500])[:, 0]
    diff = float(np.max(np.abs(ref - ours)))
    print(f"hatesonar-lr: parity max|original onnx - ours| = {diff:.2e} on {len(ref)} texts")
    if diff > tol:
        raise SystemExit(f"hatesonar-lr parity failed: {diff} > {tol}")
    return spec, {
        "parity_max_abs_diff": diff,
        "parity_reference": "hatesonar's own model.onnx (locale C.UTF-8)",
    }


def _run_member(out: Path, spec: MemberSpec, texts: list[str]) -> np.ndarray:
    from detectors.toxicity.scorer import MemberRunner

    return MemberRunner.from_files(
        out, spec, providers=["CPUExecutionProvider"], batch_size=256
    ).predict(texts)


# ---------------------------------------------------------------- parity corpus
def parity_corpus(n: int, seed: int) -> list[str]:
    """Texts sampled from the Jigsaw word-frequency table shipped in toxic-comment-classifier.

    Word salads (lengths 3-40 words, words drawn by frequency among the 20k most frequent)
    exercise each member's tokenizer and weights on text with the vocabulary, the profanity
    rate and the length spread of user comments; they serve the parity checks only.
    """
    import toxic_classifier

    with (Path(toxic_classifier.__file__).parent / "model" / "tokenizer.pickle").open("rb") as f:
        ktok = pickle.load(f)
    words = [
        w for w, i in sorted(ktok.word_index.items(), key=lambda kv: kv[1]) if i < ktok.num_words
    ]
    counts = np.array([ktok.word_counts[w] for w in words], dtype=np.float64)
    p = counts / counts.sum()
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(mean=2.4, sigma=0.6, size=n).astype(int), 3, 40)
    corpus = []
    for k in lengths:
        ws = rng.choice(len(words), size=int(k), p=p)
        corpus.append(" ".join(words[i] for i in ws).capitalize() + ".")
    return corpus


# ---------------------------------------------------------------- main
NOTICE = """tocsin default toxicity bundle
==============================

This bundle is derived from three MIT-licensed models distributed on PyPI. The ONNX graphs
and tokenizer files were generated from their published weights by
infra/models/build_default_bundle.py; the numbers are theirs.

{members}

MIT License text (applies to each member, copyright holders as above):

Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software
without restriction, including without limitation the rights to use, copy, modify, merge,
publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.
"""


def _license_lines(dist: str) -> str:
    meta = md.metadata(dist)
    author = meta["Author"] or meta["Author-email"] or "see package metadata"
    lic_files = [f for f in (md.files(dist) or []) if "LICENSE" in f.name.upper()]
    holder = ""
    for f in lic_files:
        text = Path(str(f.locate())).read_text(errors="replace")
        found = re.findall(r"Copyright[^\n]*", text)
        if found:
            holder = found[0]
            break
    return f"- {dist} {md.version(dist)} (MIT): {holder or 'author: ' + author}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=REPO / "detectors/toxicity/bundles/default")
    ap.add_argument("--corpus-size", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=20260917)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    corpus = parity_corpus(args.corpus_size, args.seed)
    members, checks = [], {}
    for build in (build_bilstm, build_profanity, build_hatesonar):
        spec, check = build(out, corpus, args.tolerance)
        members.append(spec)
        checks[spec.name] = check

    # Soft voting: every member outputs a probability of its own training target (BCE-trained
    # sigmoid, Platt-calibrated SVMs, softmax), so the plain mean needs no fitted weights.
    anchor = "jigsaw-bilstm"
    combine: dict[str, Any] = {
        "toxicity": {
            "method": "mean",
            "members": [{"member": m.name, "output": "toxicity", "weight": 1.0} for m in members],
        }
    }
    for lab in JIGSAW_LABELS[1:]:
        combine[lab] = {"method": "member", "member": anchor, "output": lab}

    (out / "LICENSE").write_text(
        NOTICE.format(
            members="\n".join(
                _license_lines(d)
                for d in ("toxic-comment-classifier", "alt-profanity-check", "hatesonar")
            )
        )
    )
    write_manifest(
        out,
        name="tocsin-toxicity-small-ensemble",
        version="1.0.0",
        license="MIT",
        provenance={
            "built_by": "infra/models/build_default_bundle.py",
            "parity_corpus": {
                "kind": "word salad sampled from the Jigsaw word counts shipped in toxic-comment-classifier",
                "size": args.corpus_size,
                "seed": args.seed,
            },
            "parity": checks,
            "build_env": {
                d: md.version(d)
                for d in ("tensorflow", "scikit-learn", "onnx", "onnxruntime", "tokenizers")
            },
        },
        labels=JIGSAW_LABELS,
        members=members,
        combine=combine,
        extra_files=["LICENSE"],
    )
    total = sum(p.stat().st_size for p in out.iterdir())
    print(
        f"wrote {out} ({total / 1e6:.1f} MB): {json.dumps({k: v['parity_max_abs_diff'] for k, v in checks.items()})}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
