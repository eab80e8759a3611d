"""BERT and fastText classifiers: tiny models trained in seconds on a slice of the shipped set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.classifier_fixtures import BAD_EN, BAD_ZH, CODE, GOOD_EN, GOOD_ZH, tiny_bert, tiny_fasttext


@pytest.fixture(scope="session")
def model_root(tmp_path_factory):
    return tmp_path_factory.mktemp("classifiers")


def test_labelled_set_is_shipped_with_both_languages_and_tasks():
    from classifiers.data import load_labelled

    rows = load_labelled()
    assert 3000 <= len(rows) <= 8000
    for lang in ("en", "zh"):
        q = {r["quality"] for r in rows if r["lang"] == lang and r["quality"] is not None}
        assert q == {0, 1}
        doms = {r["domain"] for r in rows if r["lang"] == lang and r["domain"]}
        assert len(doms) >= 5 and "ads_spam" in doms
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    assert all(r["label_method"] and r["license"] for r in rows)


def test_encode_head_and_head_tail_truncation():
    from transformers import AutoTokenizer

    from classifiers.bert.model import encode
    from classifiers.encoder import default_encoder_path

    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    text = "alpha " + "middle " * 200 + "omega"
    head = encode(tok, [text], max_tokens=16, truncation="head")["input_ids"][0].tolist()
    ht = encode(tok, [text], max_tokens=16, truncation="head_tail")["input_ids"][0].tolist()
    assert len(head) == len(ht) == 16
    omega = tok.convert_tokens_to_ids("omega")
    alpha = tok.convert_tokens_to_ids("alpha")
    assert head[1] == alpha and omega not in head
    assert ht[1] == alpha and ht[-2] == omega and ht[-1] == tok.sep_token_id
    short = encode(tok, ["hi", text], max_tokens=16, truncation="head_tail")
    assert short["attention_mask"][0].sum() == 3  # [CLS] hi [SEP], padded


def test_bert_quality_ranks_good_above_bad_and_round_trips(model_root):
    from classifiers.bert.predict import BertPredictor

    path = tiny_bert("quality", model_root)
    for f in ("config.json", "model.safetensors", "label_map.json", "README.md", "metrics.json", "report.txt",
              "confusion_all.png", "tokenizer_config.json"):
        assert (path / f).exists(), f
    p = BertPredictor(path)
    s = p.predict([GOOD_EN, BAD_EN, GOOD_ZH, BAD_ZH])
    assert s.shape == (4,) and ((s >= 0) & (s <= 1)).all()
    assert s[0] > s[1] and s[2] > s[3]
    # save -> load -> identical scores
    p.model.save_pretrained(model_root / "resaved")
    p.tokenizer.save_pretrained(model_root / "resaved")
    again = BertPredictor(model_root / "resaved").predict([GOOD_EN, BAD_EN, GOOD_ZH, BAD_ZH])
    np.testing.assert_array_equal(s, again)
    # batch size and order do not change a document's score
    again = BertPredictor(path).predict([BAD_ZH, GOOD_ZH, BAD_EN, GOOD_EN], batch_size=1)
    np.testing.assert_allclose(s[::-1], again, atol=1e-5)
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["config"]["mode"] == "frozen" and "en" in metrics["test"] and "zh" in metrics["test"]


def test_bert_domain_predicts_labels(model_root):
    from classifiers.bert.predict import load_predictor

    path = tiny_bert("domain", model_root)
    p = load_predictor(path)
    assert load_predictor(path) is p  # cached per process
    labels, probs = p.predict_labels([CODE, BAD_EN])
    assert labels == ["code", "ads_spam"]
    assert ((probs > 0.3) & (probs <= 1.0)).all()
    assert json.loads((path / "label_map.json").read_text())["labels"] == ["code", "literature", "ads_spam"]


def test_bert_regression_objective(model_root):
    from classifiers.bert.predict import BertPredictor

    path = tiny_bert("quality", model_root, objective="regression")
    p = BertPredictor(path)
    assert p.objective == "regression"
    s = p.predict([GOOD_EN, BAD_EN])
    assert s[0] > s[1]


def test_finetune_mode_top_layers_on_tiny_random_encoder(tmp_path):
    """Fine-tuning path, on a 2-layer random BERT with MiniLM's tokenizer (seconds)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from classifiers.bert.predict import BertPredictor
    from classifiers.bert.train import TrainConfig, train_classifier
    from classifiers.encoder import default_encoder_path
    from tests.classifier_fixtures import tiny_rows

    enc = tmp_path / "tiny-enc"
    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64), add_pooling_layer=False).save_pretrained(enc)
    tok.save_pretrained(enc)
    before = {k: v.clone() for k, v in BertModel.from_pretrained(enc, add_pooling_layer=False).state_dict().items()}
    cfg = TrainConfig(task="quality", encoder=str(enc), mode="finetune", train_layers=1, epochs=2, max_tokens=32,
                      head_hidden=0, batch_size=16, lr=1e-3)
    metrics = train_classifier(tiny_rows("quality", per_class=10), tmp_path / "ft", cfg, log=lambda *_: None)
    assert metrics["all"]["n"] > 0
    p = BertPredictor(tmp_path / "ft")
    after = p.model.bert.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("encoder.layer.1.") for k in changed)  # only the top layer trained
    s1 = p.predict([GOOD_EN, BAD_EN])
    np.testing.assert_array_equal(s1, BertPredictor(tmp_path / "ft").predict([GOOD_EN, BAD_EN]))


def test_fasttext_twins_rank_and_round_trip(model_root):
    from classifiers.fasttext_clf import FastTextClassifier, load_fasttext, tokenize

    assert tokenize("Hello, 世界和平！") .split()[:2] == ["hello", ","]
    q = load_fasttext(tiny_fasttext("quality", model_root))
    s = q.predict([GOOD_EN, BAD_EN, GOOD_ZH, BAD_ZH])
    assert s[0] > s[1] and s[2] > s[3]
    np.testing.assert_array_equal(s, FastTextClassifier(q.path).predict([GOOD_EN, BAD_EN, GOOD_ZH, BAD_ZH]))
    d = load_fasttext(tiny_fasttext("domain", model_root))
    labels, probs = d.predict_labels([BAD_EN, BAD_ZH])
    assert labels == ["ads_spam", "ads_spam"]
    ev = q.path.with_suffix(".eval")
    assert (ev / "metrics.json").exists() and (ev / "confusion_all.png").exists()


def test_extend_vocab_removes_unk_for_chinese(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    from classifiers.encoder import default_encoder_path, extend_vocab, unk_rate

    src = default_encoder_path()
    texts = [GOOD_ZH, BAD_ZH, "这是一个中文句子。"] * 3
    info = extend_vocab(src, tmp_path / "enc", texts, min_count=3)
    assert info["added_tokens"] > 20
    old, new = AutoTokenizer.from_pretrained(src), AutoTokenizer.from_pretrained(tmp_path / "enc")
    assert unk_rate(old, texts) > 0.3
    assert unk_rate(new, texts) == 0.0
    assert new.tokenize("这是一个中文句子") == list("这是一个中文句子")
    assert new.tokenize("Hello world") == old.tokenize("Hello world")  # English unchanged
    model = AutoModel.from_pretrained(tmp_path / "enc")
    emb = model.get_input_embeddings().weight
    assert emb.shape[0] == len(new)
    added = emb[info["old_vocab"]:]
    assert torch.isfinite(added).all() and added.std(0).mean() > 0  # initialised, and not all identical


def test_metrics_files(tmp_path):
    from classifiers.metrics import evaluate, write_eval

    rows = [{"lang": "en", "domain": "code"}, {"lang": "en", "domain": "legal"}, {"lang": "zh", "domain": "news"}]
    m = evaluate("domain", rows, ["code", "code", "news"])
    assert m["all"]["accuracy"] == pytest.approx(2 / 3)
    assert m["zh"]["macro_f1"] == 1.0
    write_eval(tmp_path, "domain", m)
    assert (tmp_path / "confusion_en.png").stat().st_size > 1000
    assert "legal" in (tmp_path / "report.txt").read_text()
