"""The ``langid`` stage over fastText's ``lid.176.ftz`` (the model wrapper is ``classifiers/langid.py``).

Every document gets ``lang`` (ISO code, e.g. ``en``, ``zh``) and ``lang_score`` (probability). The
text is predicted with newlines folded to spaces, on its first ``max_chars`` characters.

Mixed Chinese/English documents (a Chinese technical article full of code identifiers) often get a
low fastText probability for every language. They are not thrown away:

- when Han characters make up at least ``zh_min_han_share`` (0.5) of the text units (a Han
  character and a Latin word count one unit each) and the text is not Japanese (kana) or Korean
  (hangul), the document is labelled ``zh`` and its ``lang_score`` is the larger of fastText's
  p(zh) + p(en) and that Han share (metric ``langid/cjk_override`` counts documents fastText
  labelled otherwise);
- otherwise, when it has Han characters, fastText's top label is ``en`` or ``zh`` and ``bilingual``
  is on (default), the label stays and ``lang_score`` is p(en) + p(zh) (metric ``langid/bilingual``). Chinese varieties
fastText distinguishes (wuu, yue, ...) are mapped to ``zh`` by ``aliases``.

Code (docs/code.md): a document whose ``kind`` column (set by normalize; computed here the same way
when the column is absent: ``classifiers/code_detect.py``) is ``code`` is not given to fastText: its
``lang`` is ``code:<language>`` (from the record's hint, else content rules) and its ``lang_score``
1.0, and no language decision applies to it. ``keep_kinds`` (default both) rejects a kind with
``kind_not_kept`` (detail: the lang). Metric ``langid/code_docs`` counts code documents.

Decisions (kept separate from the scores): a language not in ``keep_langs`` is rejected with
``lang_not_kept``; a kept language under ``min_score`` (0.65, or a per-language mapping) with
``lang_low_score``. The detail is ``<lang>:<score>``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from classifiers.code_detect import CodeDetector, code_language, kinds_of
from classifiers.langid import load_model, predict_top
from contract import schema as S
from contract.langs import ZH_ALIASES
from contract.operator import BatchResult, Operator, append_columns, split_batch
from contract.textstats import HAN_RE2, HANGUL_RE2, KANA_RE2, count_re, safe_div, texts_of

LATIN_WORD_RE2 = r"[A-Za-z]+"
LANG = S.category_field("lang")
LANG_SCORE = pa.field("lang_score", pa.float32())


class LangID(Operator):
    """fastText language ID with a keep list; see the module docstring."""

    name = "langid"
    version = "2"  # 2: the kind column; code is code:<language> without language decisions
    metrics = {
        "langid/cjk_override": "documents labelled zh by the Han-share override although fastText said otherwise",
        "langid/bilingual": "zh/en documents below the Han share whose score is p(en) + p(zh)",
        "langid/docs/{lang}": "documents labelled with each language",
        "langid/code_docs": "documents of kind code (lang code:<language>, no language decision)",
    }

    def __init__(
        self,
        keep_langs: list[str] | tuple[str, ...] | None = ("en", "zh"),
        min_score: float | dict[str, float] = 0.65,
        model_path: str | None = None,
        max_chars: int = 2000,
        zh_min_han_share: float = 0.5,
        aliases: dict[str, str] | None = None,
        bilingual: bool = True,
        reject: bool = True,
        keep_kinds: list[str] | tuple[str, ...] = (S.KIND_PROSE, S.KIND_CODE),
        min_code_share: float = 0.5,
        min_code_lines: int = 3,
    ):
        self.keep_kinds = list(keep_kinds)
        # Used only when the batch has no kind column (normalize sets it).
        self.detector = CodeDetector(min_code_share=min_code_share, min_code_lines=min_code_lines)
        self.keep_langs = list(keep_langs) if keep_langs else ["*"]
        self.min_score = dict(min_score) if isinstance(min_score, dict) else float(min_score)
        self.model_path = model_path
        self.max_chars = max_chars
        self.zh_min_han_share = zh_min_han_share
        self.aliases = dict(ZH_ALIASES if aliases is None else aliases)
        self.bilingual = bilingual
        self.reject = reject

    def output_fields(self) -> list[pa.Field]:
        return [LANG, LANG_SCORE, S.category_field(S.KIND)]

    def setup(self) -> None:
        load_model(self.model_path)

    def input_files(self) -> list[str]:
        """The fastText model: ``model_path``, else the shipped lid.176.ftz."""
        from classifiers.langid import default_model_path

        return [str(self.model_path or default_model_path())]

    def threshold(self, lang: str) -> float:
        if isinstance(self.min_score, dict):
            return float(self.min_score.get(lang, self.min_score.get("*", 0.65)))
        return self.min_score

    def predict(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """(lang, score, metrics) for a text array."""
        head = pc.utf8_slice_codeunits(texts, 0, self.max_chars)
        folded = pc.replace_substring_regex(head, r"\s+", " ").to_pylist()
        labels, probs = predict_top(folded, k=3, model_path=self.model_path)
        n = len(folded)
        langs = np.empty(n, dtype=object)
        scores = np.zeros(n, dtype=np.float64)
        p_zh = np.zeros(n, dtype=np.float64)
        p_en = np.zeros(n, dtype=np.float64)
        for i, (lab, pr) in enumerate(zip(labels, probs)):
            best = None
            for lbl, p in zip(lab, pr):
                code = self.aliases.get(lbl, lbl)
                if code == "zh":
                    p_zh[i] += float(p)
                elif code == "en":
                    p_en[i] += float(p)
                if best is None:
                    best = (code, float(p))
                elif code == best[0]:
                    best = (code, best[1] + float(p))  # aliases of the top language add up
            langs[i], scores[i] = best if best else ("und", 0.0)
        han = count_re(head, HAN_RE2)
        kana = count_re(head, KANA_RE2)
        hangul = count_re(head, HANGUL_RE2)
        latin_words = count_re(head, LATIN_WORD_RE2)
        # Han share of text units: a Han character and a Latin word count as one unit each.
        share = safe_div(han, han + latin_words)
        cjk_like = (share >= self.zh_min_han_share) & (kana * 10 < han) & (hangul * 10 < han + 1)
        override = cjk_like & (langs != "zh")
        langs[override] = "zh"
        scores[cjk_like] = np.minimum(1.0, np.maximum(p_zh + p_en, share))[cjk_like]
        # Bilingual zh/en text below the Han share: keep fastText's top label, score = p(zh) + p(en).
        bilingual = np.zeros(n, dtype=bool)
        if self.bilingual:
            bilingual = (~cjk_like) & (han > 0) & np.isin(langs, ["en", "zh"]) & (p_zh > 0)
            scores[bilingual] = np.minimum(1.0, (p_en + p_zh)[bilingual])
        no_letters = count_re(head, r"\pL") == 0
        langs[no_letters] = "und"
        scores[no_letters] = 0.0
        return langs, scores, {
            "langid/cjk_override": float(override.sum()),
            "langid/bilingual": float(bilingual.sum()),
        }

    def kinds(self, batch: pa.RecordBatch, texts: pa.Array) -> list[str]:
        """The batch's ``kind`` column, or (absent) the kinds computed as normalize does."""
        if S.KIND in batch.schema.names:
            return [k or S.KIND_PROSE for k in batch.column(S.KIND).to_pylist()]
        meta = batch.column(S.META) if S.META in batch.schema.names else None
        return kinds_of(texts, meta, self.detector)

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        texts = texts_of(batch)
        kinds = self.kinds(batch, texts)
        code = np.array([k == S.KIND_CODE for k in kinds], dtype=bool)
        n = len(texts)
        langs = np.empty(n, dtype=object)
        scores = np.zeros(n, dtype=np.float64)
        metrics: dict[str, float] = {}
        if not code.all():  # fastText sees prose only
            prose = ~code
            sub = texts.filter(pa.array(prose)) if code.any() else texts
            langs[prose], scores[prose], metrics = self.predict(sub)
        if code.any():
            idx = np.nonzero(code)[0]
            text_vals = texts.take(pa.array(idx)).to_pylist()
            metas = (batch.column(S.META).take(pa.array(idx)).to_pylist() if S.META in batch.schema.names
                     else [None] * len(idx))
            for j, i in enumerate(idx):
                langs[i] = S.CODE_LANG_PREFIX + code_language(text_vals[j], metas[j], self.detector.max_chars)
            scores[code] = 1.0
            metrics["langid/code_docs"] = float(code.sum())
        batch = append_columns(
            batch,
            {
                "lang": pa.array(langs.tolist(), pa.string()),
                "lang_score": pa.array(scores.astype(np.float32), pa.float32()),
                S.KIND: pa.array(kinds, pa.string()),
            },
        )
        if not self.reject:
            return BatchResult(batch, None, metrics)
        reasons: list[str | None] = []
        details: list[str | None] = []
        keep_all = "*" in self.keep_langs
        for lang, score, kind in zip(langs, scores, kinds):
            if kind not in self.keep_kinds:
                reasons.append("kind_not_kept")
            elif kind == S.KIND_CODE:
                reasons.append(None)  # no language decision for code
                details.append(None)
                continue
            elif not keep_all and lang not in self.keep_langs:
                reasons.append("lang_not_kept")
            elif score < self.threshold(lang):
                reasons.append("lang_low_score")
            else:
                reasons.append(None)
                details.append(None)
                continue
            details.append(f"{lang}:{score:.3f}")
        for lang in set(langs.tolist()):
            metrics[f"langid/docs/{lang}"] = float((langs == lang).sum())
        if all(r is None for r in reasons):
            return BatchResult(batch, None, metrics)
        kept, rej = split_batch(batch, reasons, details)
        return BatchResult(kept, rej, metrics)
