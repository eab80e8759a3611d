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


def test_exact_pair_jaccard_uses_code_shingles_for_code():
    a = "int add(int a, int b) { return a + b; }\n" * 3
    b = "/* Vendored copy: do not edit. */\n" + a  # a comment only: identical code shingles
    row = {"src": [1], "dst": [2], "text_a": [a], "text_b": [b], "lang_a": ["code:c"], "lang_b": ["code:c"],
           "thr": [0.8]}
    as_code = next(exact_jaccard_rows(iter([pa.RecordBatch.from_pydict(
        {**row, "kind_a": ["code"], "kind_b": ["code"]})]), SignerConfig()))
    as_prose = next(exact_jaccard_rows(iter([pa.RecordBatch.from_pydict(row)]), SignerConfig()))
    assert as_code.column("jaccard")[0].as_py() == 1.0
    assert as_prose.column("jaccard")[0].as_py() < 1.0


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


# -- components and signature columns -----------------------------------------------------------
def test_local_components_label_each_component_with_its_smallest_node():
    from operators.dedup.components import label_components

    src = np.array([5, 9, 100, 7, -3, 42], dtype=np.int64)
    dst = np.array([9, 2, 101, 100, 42, -3], dtype=np.int64)  # {2,5,9} {7,100,101} {-3,42}
    nodes, roots = label_components(src, dst)
    assert dict(zip(nodes.tolist(), roots.tolist())) == {2: 2, 5: 2, 9: 2, 7: 7, 100: 7, 101: 7, -3: -3, 42: -3}
    assert label_components(np.zeros(0), np.zeros(0))[0].size == 0


def test_signature_column_round_trip_without_python_objects():
    sig = np.arange(3 * 8, dtype=np.uint32).reshape(3, 8) * np.uint32(2654435761)
    arr = mh.sig_array(sig, np.array([True, False, True]))
    assert arr.null_count == 1 and arr.to_pylist()[1] is None
    assert arr.to_pylist()[0] == mh.sig_to_bytes(sig)[0]
    back = mh.sig_matrix(arr.filter(arr.is_valid()), 8)
    assert (back == sig[[0, 2]]).all()
    assert (mh.sig_matrix(arr, 8)[1] == 0xFFFFFFFF).all()  # a null reads as the empty signature


def test_cjk_ratio_only_where_no_lang():
    texts = pa.array(["中文中文中文", "中文中文中文", "english only"])
    assert sh.cjk_mask(texts, pa.array(["en", None, ""]), 0.3).tolist() == [False, True, False]


# -- code -------------------------------------------------------------------------------------------
CODE_BASE = '''import os
import sys


def load_settings(path, defaults=None):
    """Read key=value lines from path into a dict."""
    settings = dict(defaults or {})
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def merge_settings(first, second):
    merged = dict(first)
    for key, value in second.items():
        if key in merged and isinstance(merged[key], dict):
            merged[key] = merge_settings(merged[key], value)
        else:
            merged[key] = value
    return merged


def main(argv):
    if len(argv) < 2:
        print("usage: settings.py FILE", file=sys.stderr)
        return 2
    settings = load_settings(argv[1], {"home": os.environ.get("HOME", "/")})
    for key in sorted(settings):
        print(f"{key}={settings[key]}")
    return 0
'''
OTHER_CODE = '''import math


def mean_and_spread(values):
    """Arithmetic mean and standard deviation of a sequence."""
    total = 0.0
    count = 0
    for v in values:
        total += v
        count += 1
    mean = total / count
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / count)
    return mean, spread


def histogram(values, bins=10):
    lo, hi = min(values), max(values)
    width = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    return counts
'''
LICENCE = "".join(f"# Licensed under the Example Public License, clause {i}: copying, modifying and\n"
                  f"# redistributing this file is permitted provided that notice {i} is kept intact.\n"
                  for i in range(12))


def _code_variants() -> dict[str, str]:
    renamed = CODE_BASE.replace("handle", "fh")  # a fork renaming a local variable
    commented = CODE_BASE.replace("    merged = dict(first)\n",
                                  "    # copy first: the caller keeps its dict\n    merged = dict(first)\n")
    commented = "# Vendored from upstream release 1.4; local changes marked LOCAL.\n" + commented
    reformatted = CODE_BASE.replace("    ", "  ").replace(", ", ",  ")
    changed = CODE_BASE.replace('        return 2\n', '        return 64  # EX_USAGE\n') \
        .replace('    return merged\n', '    merged.pop("internal", None)\n    return merged\n')
    return {"renamed": renamed, "commented": commented, "reformatted": reformatted, "changed": changed}


def _code_shingles(texts: list[str], kind_column: bool = True, langs=None) -> list[set]:
    from operators.dedup.signer import code_mask

    signer = Signer(SignerConfig())
    arr = pa.array(texts)
    langs = pa.array(langs or ["code:python"] * len(texts))
    kinds = pa.array(["code"] * len(texts)) if kind_column else None
    hv, counts = signer.shingle_hashes(arr, sh.cjk_mask(arr, langs, 0.3), code_mask(kinds), langs)
    ends = np.cumsum(counts)
    return [set(hv[e - c: e].tolist()) for e, c in zip(ends, counts)]


def _j(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def test_code_tokens_are_identifiers_and_punctuation_without_comments():
    tok = sh.code_tokens(pa.array(["x = foo(a, b)  # note", "y = a / b; /* c\n d */ // e"]),
                         pa.array(["code:python", "code:c"]))
    assert tok.flat.to_pylist() == ["x", "=", "foo", "(", "a", ",", "b", ")", "y", "=", "a", "/", "b", ";"]
    assert tok.counts.tolist() == [8, 6]
    py = sh.code_tokens(pa.array(["q = a // b"]), pa.array(["code:python"]))  # floor division stays
    assert py.flat.to_pylist() == ["q", "=", "a", "/", "/", "b"]


def test_code_near_duplicates_found_and_distinct_files_kept():
    variants = _code_variants()
    names = list(variants)
    sets = _code_shingles([CODE_BASE, *variants.values(), LICENCE + CODE_BASE[:700], LICENCE + OTHER_CODE])
    base = sets[0]
    for name, s in zip(names, sets[1:]):
        assert _j(base, s) >= 0.8, name  # vendored copy / fork with a small edit: a near duplicate
    lic_a, lic_b = sets[-2], sets[-1]
    assert _j(lic_a, lic_b) < 0.1  # distinct files sharing a long licence header stay apart
    # the prose shingles (no kind column) keep the licence comments: the two files come much closer
    prose = _code_shingles([LICENCE + CODE_BASE[:700], LICENCE + OTHER_CODE], kind_column=False)
    assert _j(prose[0], prose[1]) >= 0.4


def test_code_exact_hash_ignores_whitespace_only_for_code():
    signer = Signer(SignerConfig())
    a = "def f(x):\n    return x+1\n"
    b = "def f(x):\n\treturn x + 1   \n\n"
    c = "def F(x):\n    return x+1\n"  # case matters in code
    texts = pa.array([a, b, c])
    code = signer.exact_hashes(texts, np.array([True, True, True]))
    assert code[0] == code[1] != code[2]
    prose = signer.exact_hashes(texts, None)
    assert prose[0] != prose[1]  # prose normalisation keeps one space between "x" and "+"
    batch = pa.RecordBatch.from_pydict({"id": ["a", "b"], "text": [a, b], "kind": ["code", "code"]})
    out = Signer(SignerConfig()).process(batch)
    assert out.column("xhash")[0] == out.column("xhash")[1]
