"""Dedup building blocks without Spark: datasketch parity, the fast hash, banding, flags."""

from __future__ import annotations

import datasketch
import numpy as np
import pyarrow as pa
import pytest

from operators.dedup import build_dedup
from operators.dedup import minhash as mh
from operators.dedup import shingle as sh
from operators.dedup.signer import TOO_SHORT, Signer, SignerConfig, band_rows, exact_jaccard_rows

TEXTS = [
    "The quick brown fox jumps over the lazy dog, again and again, until the dog finally wakes up.",
    "Licence: Permission is hereby granted, free of charge, to any person obtaining a copy of this software",
    "one two three",
    "本软件按“原样”提供，不附带任何明示或暗示的担保，包括但不限于适销性和特定用途适用性的担保。",
]


def _word_tokens(text: str) -> list[str]:
    return sh.simplify_words(pa.array([text])).to_pylist()[0].split()


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("num_perm,seed", [(128, 1), (64, 7)])
def test_signature_equals_datasketch(scheme, num_perm, seed):
    """datasketch mode == datasketch.MinHash(num_perm, seed, scheme) updated with the shingle bytes."""
    cfg = SignerConfig(num_perm=num_perm, seed=seed, scheme=scheme, hash="datasketch", ngram=5, cjk_ngram=3)
    langs = pa.array([None, None, None, "zh"], pa.string())
    sig, counts = Signer(cfg).signatures(pa.array(TEXTS), langs)
    assert counts.tolist()[2] == 0  # 3 words < 5-gram
    for i, text in enumerate(TEXTS):
        if i == 3:
            s = sh.simplify_cjk(pa.array([text])).to_pylist()[0]
            shingles = [s[k: k + 3].encode() for k in range(len(s) - 2)]
        else:
            toks = _word_tokens(text)
            shingles = [" ".join(toks[k: k + 5]).encode() for k in range(len(toks) - 4)]
        ref = datasketch.MinHash(num_perm=num_perm, seed=seed, scheme=scheme)
        for x in shingles:
            ref.update(x)
        assert np.array_equal(ref.hashvalues.astype(np.uint32), sig[i]), f"doc {i}"
    if scheme == "affine32":  # datasketch 2.x default scheme
        ref = datasketch.MinHash(num_perm=num_perm, seed=seed)
        toks = _word_tokens(TEXTS[0])
        ref.update_batch([" ".join(toks[k: k + 5]).encode() for k in range(len(toks) - 4)])
        assert np.array_equal(ref.hashvalues.astype(np.uint32), sig[0])


@pytest.mark.parametrize("cjk_ngram", [None, 5])
def test_fast_hash_is_datasketch_with_a_custom_hashfunc(cjk_ngram):
    """fast mode == datasketch.MinHash(hashfunc=fast_shingle_hash32): only the shingle hash differs.

    The reference shingles use the n-gram sizes of the config under test (``None``: the defaults,
    word 5-grams and CJK char 3-grams), never hard-coded sizes."""
    cfg = SignerConfig(num_perm=64, seed=3, hash="fast")
    if cjk_ngram is not None:
        cfg.cjk_ngram = cjk_ngram
    n, m = cfg.ngram, cfg.cjk_ngram
    sig, counts = Signer(cfg).signatures(pa.array(TEXTS), pa.array([None, None, None, "zh"], pa.string()))
    toks = _word_tokens(TEXTS[1])
    ref = datasketch.MinHash(num_perm=64, seed=3, hashfunc=sh.fast_shingle_hash32)
    for k in range(len(toks) - n + 1):
        ref.update(tuple(toks[k: k + n]))
    assert np.array_equal(ref.hashvalues.astype(np.uint32), sig[1])
    s = sh.simplify_cjk(pa.array([TEXTS[3]])).to_pylist()[0]
    assert counts[3] == len(s) - m + 1
    ref = datasketch.MinHash(num_perm=64, seed=3, hashfunc=lambda x: sh.fast_shingle_hash32(x, char_mode=True))
    for k in range(len(s) - m + 1):
        ref.update(s[k: k + m])
    assert np.array_equal(ref.hashvalues.astype(np.uint32), sig[3])


def test_documented_shingle_defaults():
    """docs/dedup.md: word 5-grams, CJK char 3-grams (chosen by the measurement reported there)."""
    from operators.dedup import DedupStage

    for cfg in (SignerConfig(), DedupStage().signer_config()):
        assert (cfg.ngram, cfg.cjk_shingle, cfg.cjk_ngram) == (5, "char", 3)


def test_chunked_signatures_equal_unchunked():
    rng = np.random.RandomState(0)
    hv = rng.randint(0, 1 << 32, 5000, dtype=np.uint64).astype(np.uint32)
    counts = np.array([0, 1, 2000, 7, 0, 2992])
    perms = mh.permutations(32, 1, "affine32")
    full = mh.signatures(hv, counts, perms, chunk_cells=1 << 30)
    small = mh.signatures(hv, counts, perms, chunk_cells=32 * 100)  # splits the long documents
    assert np.array_equal(full, small)
    assert (full[0] == 0xFFFFFFFF).all() and (full[4] == 0xFFFFFFFF).all()


def test_optimal_bands_is_datasketch_routine():
    from datasketch.lsh import _optimal_param

    assert mh.optimal_bands(0.8, 128) == tuple(_optimal_param(0.8, 128, 0.5, 0.5))
    b, r = mh.optimal_bands(0.7, 128)
    assert b * r <= 128 and mh.collision_probability(0.9, b, r) > 0.99


def test_estimated_jaccard_tracks_exact():
    """With 256 permutations the estimate's standard deviation is <= 0.032: 4 sigma slack is 0.13."""
    words = [f"w{i}" for i in range(600)]
    a = " ".join(words[:400])
    b = " ".join(words[100:500])  # exact Jaccard of word 5-grams: 296 / 504
    sig, _ = Signer(SignerConfig(num_perm=256)).signatures(pa.array([a, b]), None)
    exact = 296 / 504
    assert abs(float(mh.estimate_jaccard(sig[0], sig[1])) - exact) < 0.13


def test_too_short_flagged_and_no_bands():
    batch = pa.RecordBatch.from_pydict({"id": ["a", "b"], "text": ["tiny text", TEXTS[0]], "source": ["s", "s"]})
    out = Signer(SignerConfig()).process(batch)
    assert out.column("flag").to_pylist() == [TOO_SHORT, None]
    assert out.column("sig").to_pylist()[0] is None
    rows = list(band_rows(iter([out]), 128, 9, 13))
    assert rows[0].num_rows == 9 and set(rows[0].column("node").to_pylist()) == {out.column("node")[1].as_py()}


def test_cjk_detection_by_lang_or_ratio():
    texts = pa.array(["这是一个中文句子，没有语言列。", "plain english words here", "中文中文 mixed", "中文"])
    assert sh.cjk_mask(texts, None, 0.3).tolist() == [True, False, True, True]
    langs = pa.array(["zh", "en", "en", None])
    assert sh.cjk_mask(texts, langs, 0.3).tolist() == [True, False, False, True]


def test_exact_normalization_options():
    t = pa.array(["Hello,   World 42!"])
    assert sh.normalize_for_exact(t, ("case", "whitespace", "punctuation")).to_pylist() == ["hello world 42"]
    assert sh.normalize_for_exact(t, ("case", "whitespace", "punctuation", "digits")).to_pylist() == ["hello world 00"]
    with pytest.raises(ValueError):
        sh.normalize_for_exact(t, ("nope",))


def test_exact_pair_jaccard():
    words = [f"w{i}" for i in range(300)]
    a, b = " ".join(words[:200]), " ".join(words[20:220])  # 176 shared of 196 5-grams each
    batch = pa.RecordBatch.from_pydict({"src": [1], "dst": [2], "text_a": [a], "text_b": [b],
                                        "lang_a": [None], "lang_b": [None], "thr": [0.8]})
    out = next(exact_jaccard_rows(iter([batch]), SignerConfig()))
    assert out.column("jaccard")[0].as_py() == pytest.approx(176 / 216)


def test_build_dedup_params_validated():
    with pytest.raises(ValueError):
        build_dedup(hash="md5")
    with pytest.raises(ValueError):
        build_dedup(prefer=["random"])
    with pytest.raises(ValueError):
        build_dedup(verify="maybe")
    st = build_dedup(threshold=0.85, thresholds={"news": 0.7})
    assert st.candidate_threshold() == pytest.approx(0.6)  # lowest threshold - lsh_margin
    from pipeline.registry import factory

    assert factory("dedup") is build_dedup
