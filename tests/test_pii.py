"""PII scrubbing: every type in English and Chinese context, checksums, false positives, no leaks."""

import json

import pytest

from contract import schema as S
from operators.pii import PIIScrubber
from pipeline.local import make_table, run_operator
from redaction import scrub_text
from redaction import validators as V

VALID_ID = "11010519491231002X"  # GB 11643 example with a valid MOD 11-2 check character
VALID_USCC = "91350100M000100Y43"
VISA = "4111111111111111"


def only(text, placeholder):
    out = scrub_text(text)
    return placeholder in out, out


@pytest.mark.parametrize("text, raw", [
    ("Write to jane.doe@example.com for details.", "jane.doe@example.com"),
    ("请发邮件至zhang.wei@example.cn联系我们。", "zhang.wei@example.cn"),
    ("全角邮箱：lihua＠example.com，欢迎来信。", "lihua＠example.com"),
    ("Reach me at bob at example dot com or later.", "bob at example dot com"),
    ("Contact: alice [at] mail [dot] example [dot] org today", "alice [at] mail [dot] example [dot] org"),
])
def test_email(text, raw):
    out = scrub_text(text)
    assert "<EMAIL>" in out and raw not in out


@pytest.mark.parametrize("text, raw", [
    ("Call (415) 555-0132 today.", "555-0132"),
    ("Call 415-555-0132 or 415.555.0132 ext. 12", "415-555-0132"),
    ("International: +44 20 7946 0958 is the office.", "7946 0958"),
    ("手机：13812345678，随时联系。", "13812345678"),
    ("电话 +86 138-1234-5678 或 138 1234 5678", "1234"),
    ("办公电话：021-62345678，传真（010）12345678。", "62345678"),
])
def test_phone(text, raw):
    out = scrub_text(text)
    assert "<PHONE>" in out and raw not in out, out


def test_chinese_id_checksum():
    assert V.cn_id18_valid(VALID_ID)
    bad = VALID_ID[:-1] + "1"
    assert not V.cn_id18_valid(bad)
    assert scrub_text(f"身份证号码：{VALID_ID}。") == "身份证号码：<ID_NUMBER>。"
    assert bad in scrub_text(f"号码{bad}不合法")  # failed checksum: left alone
    assert scrub_text("旧身份证号 110105491231002 已停用") == "旧身份证号 <ID_NUMBER> 已停用"
    assert scrub_text(f"ID card {VALID_ID} on file") == "ID card <ID_NUMBER> on file"


def test_unified_social_credit_code():
    assert V.uscc_valid(VALID_USCC) and not V.uscc_valid(VALID_USCC[:-1] + "5")
    assert scrub_text(f"统一社会信用代码：{VALID_USCC}") == "统一社会信用代码：<CREDIT_CODE>"


@pytest.mark.parametrize("card", [VISA, "4111 1111 1111 1111", "4111-1111-1111-1111", "6222021234567890128",
                                  "378282246310005"])
def test_bank_card_luhn(card):
    assert V.luhn_valid(card.replace(" ", "").replace("-", ""))
    assert scrub_text(f"Card {card} was charged.") == "Card <BANK_CARD> was charged."
    assert scrub_text(f"银行卡号{card}已绑定") == "银行卡号<BANK_CARD>已绑定"


def test_card_failing_luhn_is_left_alone():
    assert "4111111111111112" in scrub_text("Card 4111111111111112 is invalid")


def test_ip_addresses_and_public_only():
    assert scrub_text("client 8.8.8.8 connected") == "client <IP> connected"
    assert scrub_text("服务器地址 192.168.1.20 已上线") == "服务器地址 <IP> 已上线"
    assert scrub_text("v6 2001:db8:85a3::8a2e:370:7334 up") == "v6 <IP> up"
    res = run_operator(PIIScrubber(ip_public_only=True), make_table(["lan 192.168.1.20 wan 8.8.8.8"]))
    assert res.kept.column(S.TEXT).to_pylist() == ["lan 192.168.1.20 wan <IP>"]


def test_secrets():
    text = ("url postgres://admin:hunter22@db.example.com/app key AKIAIOSFODNN7EXAMPLE "
            "token ghp_" + "A1b2" * 9 + " and password = \"correct-horse-9\"\n"
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----")
    out = scrub_text(text)
    for raw in ("hunter22", "AKIAIOSFODNN7EXAMPLE", "ghp_A1b2", "correct-horse-9", "MIIEpAIBAAKCAQEA7"):
        assert raw not in out
    assert out.count("<SECRET>") == 5
    assert "@db.example.com" in out  # the host is not a secret


@pytest.mark.parametrize("text", [
    "Upgrade to version 1.2.3.4 of the package.",
    "The release was on 2024-01-15 at 12:30:45.",
    "ISBN 978-7-111-12345-6 and ISBN 9787111123456",
    "订单号：13812345678 已发货",
    "Order #4111111111111111 shipped",
    "In 1998, the population was 1,234,567 and GDP grew 7.8 percent.",
    "C++ uses std::vector and a::b scope.",
    "We meet at noon at the station.",
])
def test_false_positives_left_alone(text):
    assert scrub_text(text) == text


def test_counts_column_metrics_and_pseudonyms():
    texts = ["Please mail a@example.com and b@example.com with your questions about the order, or call our "
             "support line at 13812345678 during office hours; we answer within two working days.", "nothing here"]
    res = run_operator(PIIScrubber(), make_table(texts))
    counts = [dict(c) for c in res.kept.column("pii_counts").to_pylist()]
    assert counts == [{"email": 2, "phone": 1}, {}]
    assert res.metrics["pii/email"] == 2 and res.metrics["pii/phone"] == 1 and res.metrics["pii/docs_with_pii"] == 1
    p1 = run_operator(PIIScrubber(mode="pseudonym", salt="s"), make_table(texts)).kept.column(S.TEXT)[0].as_py()
    p2 = run_operator(PIIScrubber(mode="pseudonym", salt="s"), make_table(texts)).kept.column(S.TEXT)[0].as_py()
    assert p1 == p2 and p1.startswith("Please mail <EMAIL_") and "a@example.com" not in p1
    emails = [w for w in p1.split() if w.startswith("<EMAIL_")]
    assert len(set(emails)) == 2  # different values, different pseudonyms


def test_dense_documents_rejected_and_scrubbed():
    dump = "\n".join(f"1381234{i:04d}  user{i}@example.org" for i in range(30))
    prose = "Our office can be reached at office@example.com during working hours, Monday to Friday."
    res = run_operator(PIIScrubber(), make_table([dump, prose]))
    assert res.reasons() == ["pii_dense"]
    row = res.rejected.to_pylist()[0]
    assert row[S.REJECT_DETAIL].startswith("pii_char_fraction=")
    blob = json.dumps(row, ensure_ascii=False) + json.dumps(res.metrics)
    assert "@example.org" not in blob and "13812340001" not in blob
    assert res.kept.column(S.TEXT).to_pylist() == [prose.replace("office@example.com", "<EMAIL>")]


def test_stats_params_do_not_leak_salt():
    assert PIIScrubber(mode="pseudonym", salt="topsecret").params()["salt"] == "<set>"


def test_spark_equals_local(spark):
    from pyspark.sql.pandas.types import from_arrow_schema

    from pipeline.execute import apply_batches, output_schema

    texts = [f"user{i}@example.com 电话 1381234{i:04d} 身份证 {VALID_ID}" if i % 3 else f"plain text {i}"
             for i in range(200)]
    table = make_table(texts)
    op = PIIScrubber()
    schema = output_schema(op, table.schema)
    df = spark.createDataFrame(table.to_pandas()).repartition(3)
    out = df.mapInArrow(lambda it: apply_batches(op, it, schema, "pii"), from_arrow_schema(schema))
    spark_rows = sorted((r["id"], r["text"]) for r in out.collect())
    res = run_operator(PIIScrubber(), table)
    local = [(r["id"], r["text"]) for t in (res.kept, res.rejected) for r in t.to_pylist()]
    assert spark_rows == sorted(local)
    assert len(res.rejected) > 0  # the dense ones are rejected, scrubbed too
