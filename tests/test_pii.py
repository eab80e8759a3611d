"""PII scrubbing: every type in English and Chinese context, checksums, false positives, no leaks."""

import json

import pyarrow as pa
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


def test_stats_params_do_not_leak_salt_but_change_with_it():
    from operators.pii.scrubber import SALT_FINGERPRINT_ITERATIONS, salt_fingerprint

    shown = PIIScrubber(mode="pseudonym", salt="topsecret").params()["salt"]
    assert shown.startswith("set:") and len(shown) == 12 and "topsecret" not in shown
    # a different salt, a different fingerprint (so the stage hash changes); no salt: ""
    assert PIIScrubber(salt="topsecreT").params()["salt"] not in ("", shown)
    assert PIIScrubber(salt="topsecret").params()["salt"] == shown and PIIScrubber().params()["salt"] == ""
    # a costly function of the salt, not a plain hash that a guess confirms cheaply
    import hashlib

    assert shown[4:] == hashlib.pbkdf2_hmac("sha256", b"topsecret", b"winnow/pii/salt-fingerprint/v1",
                                            SALT_FINGERPRINT_ITERATIONS).hex()[:8]
    assert SALT_FINGERPRINT_ITERATIONS >= 100_000
    assert shown[4:] not in hashlib.sha256(b"topsecret").hexdigest()
    assert salt_fingerprint("") == ""


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


# --- Hardening: no PII leaves the PII stage -------------------------------------------------------

SERIAL_USCC = "190937865797543235"  # 18 digits: fails the resident-ID checksum, passes the credit-code one
RAW_PII = ["ivan.petrov", "13812345678", "a.li@example.cn", "4111111111111111", "8.8.8.8", VALID_ID]


def _all_strings(res) -> str:
    return json.dumps([res.kept.to_pylist(), res.rejected.to_pylist(), res.metrics], ensure_ascii=False, default=str)


def _field_table():
    ids = ["ivan.petrov@example.com", "order-13812345678", "plain-id", "3fa1c0d2e4b5a6978877", "doc-4"]
    sources = ["contact_ivan.petrov@example.com", "crawl-13812345678", "web", "web", "web"]
    metas = [
        json.dumps({"file": "/in/contact_ivan.petrov@example.com.jsonl", "line": 1}),
        json.dumps({"author": {"mail": "a.li@example.cn", "phones": ["13812345678", 13812345678]},
                    "card": "4111111111111111", "ok": True, "n": 3}, ensure_ascii=False),
        json.dumps({"nested": [[{"ip": "8.8.8.8"}]], "身份证": VALID_ID}, ensure_ascii=False),
        "{}",
        json.dumps({"url": "https://example.org/a", "title": "nothing personal"}),
    ]
    texts = ["plain text one", "plain text two", "plain text three", "plain text four",
             "\n".join(f"1381234{i:04d} user{i}@example.org" for i in range(20))]  # pii_dense: rejected
    return make_table(texts, source=sources).set_column(3, S.META, pa.array(metas, pa.string())).set_column(
        0, S.ID, pa.array(ids, pa.string()))


def test_pii_in_id_source_and_meta_never_leaves_the_stage():
    from contract.metrics import undeclared

    op = PIIScrubber()
    res = run_operator(op, _field_table())
    blob = _all_strings(res)
    for raw in RAW_PII:
        assert raw not in blob, raw
    rows = {r[S.TEXT][:16]: r for t in (res.kept, res.rejected) for r in t.to_pylist()}
    assert len(rows) == 5
    ids = [r[S.ID] for r in rows.values()]
    assert len(set(ids)) == 5  # still unique
    assert rows["plain text one"][S.ID].startswith("pii-") and rows["plain text two"][S.ID].startswith("pii-")
    assert rows["plain text three"][S.ID] == "plain-id" and rows["plain text four"][S.ID] == "3fa1c0d2e4b5a6978877"
    assert rows["plain text one"][S.SOURCE] == "<EMAIL>"
    assert rows["plain text three"][S.SOURCE] == "web"
    meta = json.loads(rows["plain text two"][S.META])  # still valid JSON, same shape
    assert meta == {"author": {"mail": "<EMAIL>", "phones": ["<PHONE>", "<PHONE>"]}, "card": "<BANK_CARD>",
                    "ok": True, "n": 3}
    assert json.loads(rows["plain text three"][S.META]) == {"nested": [[{"ip": "<IP>"}]], "身份证": "<ID_NUMBER>"}
    assert rows["plain text four"][S.META] == "{}"
    assert json.loads(rows["plain text one"][S.META])["file"] == "/in/<EMAIL>"
    assert res.reasons() == ["pii_dense"]
    assert not undeclared(res.metrics, op.metrics)
    assert res.metrics["pii/ids_pseudonymized"] == 2
    assert res.metrics["pii/sources_scrubbed"] == 2
    assert res.metrics["pii/metas_scrubbed"] == 3
    # findings in the other columns are counted per type, apart from the text's pii/<type>
    other = {k: v for k, v in res.metrics.items() if k.count("/") == 2}
    assert other == {"pii/id/email": 1, "pii/id/phone": 1, "pii/source/email": 1, "pii/source/phone": 1,
                     "pii/meta/email": 2, "pii/meta/phone": 2, "pii/meta/bank_card": 1, "pii/meta/ip": 1,
                     "pii/meta/id_number": 1}, other
    assert res.metrics["pii/email"] == 20  # the text's own findings, unchanged (the dense row)
    # stable across runs and batchings; the salt changes the pseudonym
    again = run_operator(PIIScrubber(), _field_table(), batch_size=2)
    assert sorted(ids) == sorted(r[S.ID] for t in (again.kept, again.rejected) for r in t.to_pylist())
    salted = run_operator(PIIScrubber(salt="s"), _field_table())
    assert set(salted.kept.column(S.ID).to_pylist()) != set(res.kept.column(S.ID).to_pylist())


def test_id_pseudonyms_are_unique():
    ids = [f"user{i}@example.com" for i in range(300)] + [f"tel-1381234{i:04d}" for i in range(300)]
    table = make_table(["x"] * len(ids)).set_column(0, S.ID, pa.array(ids, pa.string()))
    out = run_operator(PIIScrubber(), table).kept.column(S.ID).to_pylist()
    assert len(set(out)) == len(ids) and all(i.startswith("pii-") for i in out)


def test_file_name_with_email_is_scrubbed_from_read_rows(tmp_path):
    from pipeline.config import InputConfig
    from pipeline.io import ReadTask, read_task

    path = tmp_path / "contact_ivan.petrov@example.com.jsonl"
    path.write_text(json.dumps({"text": "A plain document about rivers."}) + "\n"
                    + json.dumps({"text": "Another one.", "id": "ivan.petrov@example.com"}) + "\n")
    batch = pa.Table.from_batches(list(read_task(ReadTask(str(path)), InputConfig(paths=[str(path)]))))
    assert "ivan.petrov" in json.dumps(batch.to_pylist())  # what the reader hands the PII stage
    docs = batch.select([f.name for f in S.BASE_FIELDS])
    res = run_operator(PIIScrubber(), docs)
    assert "ivan.petrov" not in _all_strings(res)
    assert set(res.kept.column(S.SOURCE).to_pylist()) == {"<EMAIL>"}


@pytest.mark.parametrize("text", [
    "请升级到 10.8.2.13 版本",
    "请升级到10.8.2.13版本。",
    "版本号：10.8.2.13",
    "10.8.2.13 版本已发布",
    "固件更新至 V10.8.2.13",
    "升级到 v 10.8.2.13 后重启",
    "当前版本为 10.8.2.13。",
])
def test_chinese_version_strings_are_not_ips(text):
    assert scrub_text(text) == text


@pytest.mark.parametrize("text, want", [
    ("服务器 10.8.2.13 已上线", "服务器 <IP> 已上线"),
    ("IP 地址：10.8.2.13，版权所有", "IP 地址：<IP>，版权所有"),
    ("登录 10.8.2.13 查看版本", "登录 <IP> 查看版本"),
])
def test_ips_near_chinese_words_still_found(text, want):
    assert scrub_text(text) == want


@pytest.mark.parametrize("text, want", [
    ("Card 4881550658046412 003 on file", "Card <BANK_CARD> 003 on file"),
    ("卡号 4881550658046412 003", "卡号 <BANK_CARD> 003"),
    ("pay 4111 1111 1111 1111 2024 now", "pay <BANK_CARD> 2024 now"),
    ("room 003 4881550658046412 ok", "room 003 <BANK_CARD> ok"),
    ("two 4111111111111111 5500000000000004", "two <BANK_CARD> <BANK_CARD>"),
])
def test_card_followed_or_preceded_by_digits(text, want):
    assert scrub_text(text) == want


@pytest.mark.parametrize("prefix", ["编号 ", "编号：", "流水号：", "Serial: ", "serial number ", "S/N "])
def test_serial_passing_credit_code_checksum_is_left_alone(prefix):
    assert V.uscc_valid(SERIAL_USCC) and not V.cn_id18_valid(SERIAL_USCC)
    assert scrub_text(f"{prefix}{SERIAL_USCC}") == f"{prefix}{SERIAL_USCC}"


def test_real_credit_codes_still_found_near_number_words():
    assert scrub_text(f"统一社会信用代码编号：{SERIAL_USCC}") == "统一社会信用代码编号：<CREDIT_CODE>"
    assert scrub_text(f"编号：{VALID_USCC}") == "编号：<CREDIT_CODE>"
    assert scrub_text(f"代码 {SERIAL_USCC}") == "代码 <CREDIT_CODE>"


@pytest.mark.parametrize("text, want", [
    ("Phone: 116-677-2409", "Phone: <PHONE>"),
    ("My cell is (166) 996-3578.", "My cell is <PHONE>."),
    ("Tel 116 677 2409", "Tel <PHONE>"),
    ("Tel.: 116.677.2409 ext. 12", "Tel.: <PHONE>"),
    ("电话：116-677-2409", "电话：<PHONE>"),
    ("手机：166 9963 5780", "手机：<PHONE>"),
    ("联系电话：6234 5678。", "联系电话：<PHONE>。"),
    ("Phone #: 415-555-0132", "Phone #: <PHONE>"),
    ("Call me at 116-677-2409 tonight", "Call me at <PHONE> tonight"),
    ("Tél/Fax: 01 23 45 67 89", "Tél/Fax: <PHONE>"),
])
def test_phone_context_leans_to_recall(text, want):
    assert scrub_text(text) == want


@pytest.mark.parametrize("text", [
    "Phone interview on 2024-01-15 at 10:30.",
    "Call 911 now.",
    "The telephone was invented in 1876.",
    "手机 2023 年销量 1.2 亿部",
])
def test_phone_context_does_not_take_dates_or_short_numbers(text):
    assert scrub_text(text) == text


@pytest.mark.parametrize("text, want", [
    ("身份证 330106 19790523 8761 已登记", "身份证 <ID_NUMBER> 已登记"),
    ("电话 010-6552 1234", "电话 <PHONE>"),
    ("办公室 0571-8765 4321 转 8", "办公室 <PHONE>"),
])
def test_already_fixed_shapes_keep_working(text, want):
    assert scrub_text(text) == want


def test_stage_matches_scrub_text_on_hard_shapes():
    texts = ["请升级到 10.8.2.13 版本", "Card 4881550658046412 003", f"编号 {SERIAL_USCC}", "Phone: 116-677-2409",
             "身份证 330106 19790523 8761", "电话 010-6552 1234", "Tél: 01 23 45 67 89", "+33 1 23 45 67 89",
             "Write to bob{at}example{dot}com", "卡号 ４１１１１１１１１１１１１１１１", "电话\u300013812345678"]
    res = run_operator(PIIScrubber(), make_table(texts))
    assert res.kept.column(S.TEXT).to_pylist() == [scrub_text(t) for t in texts]


def test_triggers_are_never_stricter_than_find():
    """Every detector's batch pre-check (RE2, in pyarrow) must fire wherever its Python patterns find something."""
    import random

    import pyarrow.compute as pc

    from redaction.detectors import DEFAULT_DETECTORS

    rng = random.Random(5)
    digits = "0123456789" * 4 + "０１２３４５６７８９٣"
    seps = [" ", "-", ".", "\u3000", "\u00a0", "\u2009", "\x0b", "(", ")", "（", "）", "", "", "", ":", "@", "＠"]
    words = ["Phone: ", "电话：", "Tel ", "cell is ", "编号", "version ", "版本 ", "card ", " at ", " dot ", "[at]",
             "{at}", "x", "ext.", "转", "+", "+86 ", "ab", "com", "password = '", "://u:", "AKIA", "10.", "::"]

    def piece():
        r = rng.random()
        if r < 0.5:
            return "".join(rng.choice(digits) for _ in range(rng.randint(1, 8)))
        return rng.choice(seps) if r < 0.8 else rng.choice(words)

    texts = ["".join(piece() for _ in range(rng.randint(3, 14))) for _ in range(4000)]
    texts += ["Tél: 01 23 45 67 89", "+33 1 23 45 67 89", "卡号 ４１１１１１１１１１１１１１１１", "name{at}host{dot}com",
              "name [\u3000at\u3000] host [dot] com", "电话\u300013812345678", "ID 330106\u300019790523\u30008761"]
    arr = pa.array(texts, pa.string())
    for cls in DEFAULT_DETECTORS:
        det = cls()
        mask = pc.match_substring_regex(arr, det.trigger).to_pylist()
        missed = [t for t, m in zip(texts, mask) if not m and det.find(t)]
        assert not missed, (cls.__name__, missed[:5])


@pytest.mark.parametrize("text, want", [
    ("contact_169.163.62.219.jsonl", "contact_<IP>.jsonl"),
    ("contact_415-555-0132", "contact_<PHONE>"),
    ("export-4111111111111111-2024", "export-<BANK_CARD>-2024"),
    ("CC-MAIN-20231127012345-20231127042345-00123.warc.gz", "CC-MAIN-20231127012345-20231127042345-00123.warc.gz"),
    ("发票号码：7993745900", "发票号码：7993745900"),
    (f"发票号码：{SERIAL_USCC}", f"发票号码：{SERIAL_USCC}"),
    ("订单号 12 4111111111111111", "订单号 12 4111111111111111"),
])
def test_shapes_found_by_the_benchmark(text, want):
    assert scrub_text(text) == want


def test_meta_that_is_not_json_or_escaped_is_still_scrubbed():
    metas = ["not json ivan@example.com", json.dumps({"a": "ivan\u0040example.com"}), json.dumps({"x": "é ivan@example.com"})]
    table = make_table(["a", "b", "c"]).set_column(3, S.META, pa.array(metas, pa.string()))
    out = run_operator(PIIScrubber(), table).kept.column(S.META).to_pylist()
    assert out[0] == "not json <EMAIL>"
    assert json.loads(out[1]) == {"a": "<EMAIL>"} and json.loads(out[2]) == {"x": "é <EMAIL>"}


def test_meta_keys_with_pii_are_scrubbed_without_losing_values():
    meta = json.dumps({"a@example.com": 1, "b@example.com": 2})
    table = make_table(["t"]).set_column(3, S.META, pa.array([meta], pa.string()))
    out = json.loads(run_operator(PIIScrubber(), table).kept.column(S.META)[0].as_py())
    assert out == {"<EMAIL>": 1, "<EMAIL>#2": 2}


def test_ip_after_a_contact_word_is_an_ip():
    assert scrub_text("联系方式：101.255.111.236。") == "联系方式：<IP>。"
    assert scrub_text("Tel: 116.677.2409") == "Tel: <PHONE>"


@pytest.mark.parametrize("text", [
    "000003c: 6e20 7061 6765 2061 7574 686f  n page autho",
    "bits  0000 0001 0010 0011 0100 0101 0110 0111 1000 1001",
])
def test_hex_dumps_and_bit_tables_are_not_cards(text):
    assert scrub_text(text) == text


def test_jcb_1800_card_beside_digits_and_bit_rows():
    assert scrub_text("卡号 180012345678905 12") == "卡号 <BANK_CARD> 12"  # JCB 15-digit, issuer prefix 1800
    bits = "1100 1101 0110 1100 0000 0100"  # its first four groups pass Luhn
    assert scrub_text(bits) == bits


def test_report_shows_pii_found_in_other_columns_per_type():
    """The report reads the pii/{column}/{type} family beside the text's pii_counts."""
    from pipeline.report.collect import _pii

    op = PIIScrubber()
    res = run_operator(op, _field_table())
    stage = {"name": "03-pii", "metrics": res.metrics, "declared": {"metrics": op.declared_metrics()},
             "histograms": {"maps": {"pii_counts": {"kept": {"email": {"total": 20, "docs": 1}}}}}}
    got = _pii([stage])
    assert got["counts"] == {"email": 20}
    assert got["in_columns"] == {"id": {"email": 1, "phone": 1}, "meta": {"bank_card": 1, "email": 2,
                                 "id_number": 1, "ip": 1, "phone": 2}, "source": {"email": 1, "phone": 1}}
    from pipeline.report.plots import pii_bars

    assert pii_bars(got) and pii_bars({"counts": {"email": 1}})


@pytest.mark.parametrize("text, want", [
    ("/in/_hidden_ivan.petrov@example.com.jsonl", "/in/<EMAIL>"),  # a hidden file's name in a log line
    ("mail _ivan@example.com or +ivan@example.com", "mail <EMAIL> or <EMAIL>"),
    ("x/contact_ivan.petrov@example.com.jsonl", "x/<EMAIL>"),
])
def test_email_local_part_may_start_with_underscore_plus_or_dash(text, want):
    assert scrub_text(text) == want
