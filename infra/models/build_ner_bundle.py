"""Train tocsin's embedded PERSON/LOCATION tagger and write it as an ONNX NER bundle.

Seeded and CPU-only (the shipped bundle: the defaults below with ``--threads 2``, 81 s on a
quiet 2-core machine)::

    .venv/bin/pip install "faker==40.63.0"   # build time only, never at run time
    .venv/bin/python infra/models/build_ner_bundle.py --out detectors/pii/bundles/ner-default

What it does:

1. generates a labelled corpus with :mod:`ner_corpus` (templates + Faker locale data, exact
   spans, no teacher model), train and dev parts with different seeds;
2. builds the features of :mod:`detectors.pii.ner_features`: a vocabulary of *context* words
   (words outside entities, so names stay unknown and the model learns from shape, suffix,
   lexicon and context), and lexicons of first names, surnames, places and street words
   (Faker's locale lists, hand lists in ``ner_corpus``);
3. trains a small dilated CNN tagger (embeddings → 1×1 conv → 3 residual dilated convs →
   BIO logits) with torch; the lexicon bits of entity tokens are dropped at random during
   training so names outside the lexicons are still found;
4. exports it to ONNX (opset 17, dynamic batch and length), checks ONNX Runtime against
   torch on the dev set (max abs logit difference), and writes ``manifest.json`` with
   provenance, licences, dev scores and the sha256 of every file.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ner_corpus  # noqa: E402

from detectors.pii.ner_features import (  # noqa: E402
    _LEX_SHIFT,
    MAX_VOCAB,
    SHAPES,
    SUFFIX_BUCKETS,
    TOKEN_RE,
    Featurizer,
)

LABELS = ("O", "B-PERSON", "I-PERSON", "B-LOCATION", "I-LOCATION")
STREET_WORDS = [
    "street",
    "st",
    "road",
    "rd",
    "avenue",
    "ave",
    "lane",
    "ln",
    "drive",
    "dr",
    "boulevard",
    "blvd",
    "court",
    "ct",
    "way",
    "place",
    "pl",
    "square",
    "sq",
    "terrace",
    "close",
    "crescent",
    "highway",
    "hwy",
    "parkway",
    "suite",
    "apt",
    "apartment",
    "unit",
    "floor",
    "rue",
    "allée",
    "chemin",
    "impasse",
    "quai",
    "cours",
    "faubourg",
    "bd",
    "av",
    "straße",
    "strasse",
    "str",
    "weg",
    "gasse",
    "platz",
    "allee",
    "ring",
    "damm",
    "ufer",
    "calle",
    "avenida",
    "av",
    "carrer",
    "plaza",
    "paseo",
    "camino",
    "carretera",
    "via",
    "viale",
    "piazza",
    "corso",
    "vicolo",
    "largo",
    "rua",
    "travessa",
    "praça",
    "alameda",
    "estrada",
    "straat",
    "laan",
    "gracht",
    "plein",
    "steeg",
    "kade",
    "ulica",
    "ul",
    "aleja",
    "al",
    "gatan",
    "vägen",
    "gata",
    "vej",
    "gade",
    "gate",
    "veien",
    "katu",
    "tie",
    "utca",
    "út",
    "sokak",
    "sokağı",
    "caddesi",
    "cad",
    "mahallesi",
    "bulvarı",
    "ulitsa",
    "prospekt",
    "jalan",
    "jl",
    "đường",
    "phố",
]


def _token_labels(text: str, spans: list[tuple[int, int, str]]) -> tuple[list[str], list[int]]:
    toks, labs = [], []
    prev_span = -1
    for m in TOKEN_RE.finditer(text):
        s, e = m.span()
        lab = 0
        for k, (a, b, kind) in enumerate(spans):
            if s < b and a < e:
                base = 1 if kind == "PERSON" else 3
                lab = base if k != prev_span else base + 1
                prev_span = k
                break
        else:
            prev_span = -1
        toks.append(m.group())
        labs.append(lab)
    return toks, labs


def build_featurizer(
    pools: ner_corpus.Pools, train: list[tuple[list[str], list[int]]], max_vocab: int
) -> tuple[Featurizer, dict]:
    counts: Counter[str] = Counter()
    for toks, labs in train:
        counts.update(
            t.lower().replace("’", "'") for t, lab in zip(toks, labs, strict=True) if lab == 0
        )
    words = [w for w, c in counts.most_common(max_vocab - 2) if c >= 3]
    vocab = {w: i + 2 for i, w in enumerate(words)}

    def split_lower(names: list[str]) -> set[str]:
        out: set[str] = set()
        for n in names:
            out.update(t.lower() for t in TOKEN_RE.findall(n) if len(t) > 1 and t.isalpha())
        return out

    first = split_lower(
        [n for loc in pools.first for n in pools.first[loc]] + list(ner_corpus.EXTRA_FIRST)
    )
    last = split_lower(
        [n for loc in pools.last for n in pools.last[loc]] + list(ner_corpus.EXTRA_LAST)
    )
    places = split_lower(
        ner_corpus.WORLD_CITIES.split()
        + list(ner_corpus.MULTIWORD_CITIES)
        + [c for loc in pools.cities if not loc.startswith("en_") for c in pools.cities[loc]]
    )
    # Context words that are very common outside names are not lexicon evidence.
    common = {w for w, c in counts.most_common(300)}
    first -= common
    last -= common
    places -= common
    regions = {c.lower() for c in ner_corpus.COUNTRIES + ner_corpus.NATIONALITIES}
    regions |= {c.lower().removeprefix("the ") for c in ner_corpus.COUNTRY_PHRASES}
    lex = {
        "first_names": sorted(first),
        "last_names": sorted(last),
        "places": sorted(places),
        "street_words": sorted(set(STREET_WORDS)),
    }
    feat = Featurizer(vocab, **lex)
    # Not a lexicon feature: the decoder drops a LOCATION that is only one of these.
    return feat, {"vocab": vocab, **lex, "regions": sorted(regions)}


def encode(
    feat: Featurizer, data: list[tuple[list[str], list[int]]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (np.asarray(feat.codes(t), dtype=np.int64), np.asarray(lab, dtype=np.int64))
        for t, lab in data
        if t
    ]


def make_model(vocab_size: int, channels: int):
    import torch
    from torch import nn

    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # Summed embeddings of one width: the same as a linear layer over their
            # concatenation, without its cost at run time.
            self.word = nn.Embedding(vocab_size, channels)
            self.suffix = nn.Embedding(SUFFIX_BUCKETS, channels)
            self.shape = nn.Embedding(32, channels)
            self.lex = nn.Embedding(16, channels)
            self.convs = nn.ModuleList(
                [nn.Conv1d(channels, channels, 3, padding=d, dilation=d) for d in (1, 2, 4)]
            )
            self.out = nn.Conv1d(channels, len(LABELS), 1)
            self.drop = nn.Dropout(0.1)

        def forward(self, word, suffix, shape, lexicon):  # type: ignore[no-untyped-def]
            # Padding positions are zeroed after every layer, as the convolutions' own zero
            # padding is: a text gets the same labels alone or in any padded batch.
            mask = (word > 0).unsqueeze(1).to(torch.float32)
            x = self.word(word) + self.suffix(suffix) + self.shape(shape) + self.lex(lexicon)
            x = torch.relu(x).transpose(1, 2) * mask
            for conv in self.convs:
                x = (x + torch.relu(conv(self.drop(x)))) * mask
            return self.out(x).transpose(1, 2)

    return Tagger()


def _batches(data, batch_size: int, rng: random.Random, shuffle: bool):
    order = sorted(range(len(data)), key=lambda i: len(data[i][0]))
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(chunks)
    for idx in chunks:
        width = max(len(data[i][0]) for i in idx)
        codes = np.zeros((len(idx), width), dtype=np.int64)
        labs = np.full((len(idx), width), -100, dtype=np.int64)
        for r, i in enumerate(idx):
            c, lab = data[i]
            codes[r, : len(c)] = c
            labs[r, : len(c)] = lab
        yield idx, codes, labs


def _spans(labels: np.ndarray) -> set[tuple[int, int, int]]:
    out, start, kind = set(), None, 0
    for i, lab in enumerate([*labels.tolist(), 0]):
        k = 0 if lab == 0 else (1 if lab in (1, 2) else 2)
        if start is not None and (k != kind or lab in (1, 3)):
            out.add((start, i, kind))
            start = None
        if k and start is None:
            start, kind = i, k
    return out


def evaluate(model, data, batch_size: int = 256) -> dict[str, dict[str, float]]:
    import torch

    tp, fp, fn = Counter(), Counter(), Counter()
    model.eval()
    with torch.no_grad():
        for idx, codes, labs in _batches(data, batch_size, random.Random(0), False):
            feats = [torch.from_numpy(a) for a in Featurizer.unpack(codes)]
            pred = model(*feats).argmax(-1).numpy()
            for r, i in enumerate(idx):
                n = len(data[i][0])
                gold, got = _spans(labs[r, :n]), _spans(pred[r, :n])
                for name, k in (("PERSON", 1), ("LOCATION", 2)):
                    g = {s for s in gold if s[2] == k}
                    p = {s for s in got if s[2] == k}
                    tp[name] += len(g & p)
                    fp[name] += len(p - g)
                    fn[name] += len(g - p)
    model.train()
    res = {}
    for name in ("PERSON", "LOCATION"):
        prec = tp[name] / max(1, tp[name] + fp[name])
        rec = tp[name] / max(1, tp[name] + fn[name])
        res[name] = {"precision": round(prec, 4), "recall": round(rec, 4)}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=REPO / "detectors/pii/bundles/ner-default")
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--train", type=int, default=60000)
    ap.add_argument("--dev", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--max-vocab", type=int, default=12000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lexicon-dropout", type=float, default=0.3)
    ap.add_argument("--word-dropout", type=float, default=0.25)
    a = ap.parse_args()

    import onnxruntime as ort
    import torch

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = random.Random(a.seed)
    np_rng = np.random.default_rng(a.seed)
    t0 = time.time()
    pools = ner_corpus.build_pools(a.seed)
    train_raw = ner_corpus.generate(a.train, a.seed, pools)
    dev_raw = ner_corpus.generate(a.dev, a.seed + 1, pools)
    train_tok = [_token_labels(t, s) for t, s in train_raw]
    dev_tok = [_token_labels(t, s) for t, s in dev_raw]
    feat, feat_json = build_featurizer(pools, train_tok, a.max_vocab)
    train = encode(feat, train_tok)
    dev = encode(feat, dev_tok)
    print(
        f"corpus: {len(train)} train / {len(dev)} dev texts, vocab {len(feat.vocab)}, "
        f"{time.time() - t0:.1f}s",
        flush=True,
    )

    model = make_model(a.max_vocab, a.channels)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    lossf = torch.nn.CrossEntropyLoss(ignore_index=-100)
    for epoch in range(a.epochs):
        total, steps = 0.0, 0
        for _, codes, labs in _batches(train, 32, rng, True):
            # Lexicon dropout on entity tokens: names outside the lists must still be found.
            ent = (labs > 0) & (np_rng.random(labs.shape) < a.lexicon_dropout)
            codes = np.where(ent, codes & ~np.int64(15 << _LEX_SHIFT), codes)
            # Word dropout: an unknown word must not mean "a name" (real text has far more
            # words than the corpus vocabulary), so known words become unknown at random.
            drop = (
                (labs >= 0)
                & (np_rng.random(labs.shape) < a.word_dropout)
                & ((codes & (MAX_VOCAB - 1)) > 1)
            )
            codes = np.where(drop, (codes & ~np.int64(MAX_VOCAB - 1)) | 1, codes)
            word, suffix, shape, lex = (torch.from_numpy(x) for x in Featurizer.unpack(codes))
            logits = model(word, suffix, shape, lex)
            loss = lossf(logits.reshape(-1, len(LABELS)), torch.from_numpy(labs).reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
            steps += 1
        for g in opt.param_groups:
            g["lr"] *= 0.5
        print(
            f"epoch {epoch + 1}: loss {total / steps:.4f} dev {evaluate(model, dev)} "
            f"{time.time() - t0:.0f}s",
            flush=True,
        )
    dev_scores = evaluate(model, dev)
    model.eval()

    out: Path = a.out
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "model.onnx"
    names = ["word", "suffix", "shape", "lexicon"]
    dummy = tuple(torch.ones((2, 7), dtype=torch.int64) for _ in names)
    torch.onnx.export(
        model,
        dummy,
        str(onnx_path),
        input_names=names,
        output_names=["logits"],
        dynamic_axes={n: {0: "batch", 1: "length"} for n in [*names, "logits"]},
        opset_version=17,
        dynamo=False,
    )
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    with torch.no_grad():
        for _, codes, _ in _batches(dev[:1000], 64, rng, False):
            arrs = Featurizer.unpack(codes)
            ref = model(*(torch.from_numpy(x) for x in arrs)).numpy()
            got = sess.run(None, dict(zip(names, arrs, strict=True)))[0]
            worst = max(worst, float(np.abs(ref - got).max()))
    print(f"onnx parity: max abs logit diff {worst:.2e}", flush=True)
    if worst > 1e-3:
        print("parity check failed", file=sys.stderr)
        return 1
    (out / "features.json").write_text(
        json.dumps(feat_json, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )
    (out / "LICENSE").write_text(LICENSE_TEXT, encoding="utf-8")

    from detectors.pii.ner import write_ner_manifest

    write_ner_manifest(
        out,
        name="tocsin-ner-small-cnn",
        version="1.1.0",  # 1.1: machine text (logs, headers, JSON, code, keys) and other
        # scripts as negatives; 1.0 tagged "BEGIN CERTIFICATE", "Bearer", "INFO" as places/names
        kind="word-cnn",
        license="MIT",
        labels=list(LABELS),
        inputs=names,
        max_tokens=256,
        provenance={
            "built_by": "infra/models/build_ner_bundle.py",
            "seed": a.seed,
            "corpus": {
                "generator": "infra/models/ner_corpus.py (templates written for tocsin; exact spans, no teacher model)",
                "train_texts": a.train,
                "dev_texts": a.dev,
                "faker_locales": pools.locales,
                "name_and_address_data": f"Faker {md.version('faker')} (MIT), locale providers",
                "hand_lists": "world cities, countries, brands, products, programming languages, months, weekdays, street words, log/header/code/SQL/stack-trace lines, Hindi words (written for tocsin)",
                "other_scripts": "Faker lorem word lists of non-Latin locales (MIT) as name-free sentences",
            },
            "architecture": f"summed embeddings (word, suffix, shape, lexicon; {a.channels} wide) -> 3 residual dilated conv3 (1,2,4), {a.channels} channels -> BIO logits",
            "epochs": a.epochs,
            "lexicon_dropout": a.lexicon_dropout,
            "word_dropout": a.word_dropout,
            "dev_scores_exact_span": dev_scores,
            "onnx_parity_max_abs_diff": worst,
            "build_env": {
                k: md.version(k) for k in ("torch", "onnx", "onnxruntime", "numpy", "faker")
            },
            "shapes": list(SHAPES),
        },
    )
    print(f"wrote {out} in {time.time() - t0:.0f}s; dev {dev_scores}")
    return 0


LICENSE_TEXT = """tocsin-ner-small-cnn — weights trained by infra/models/build_ner_bundle.py

MIT License

Copyright (c) 2026 the tocsin authors

Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software
without restriction, including without limitation the rights to use, copy, modify, merge,
publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.

Training data: generated from templates written for tocsin and from the locale data of
Faker (https://github.com/joke2k/faker), MIT License, Copyright (c) 2012 Daniele Faraglia.
The lexicons in features.json are lower-cased name, city and street-word lists drawn from
the same sources.
"""

if __name__ == "__main__":
    raise SystemExit(main())
