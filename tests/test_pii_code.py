"""Secrets and PII in code (issue 16): scrubbed by the PII stage for kind == code documents while the
code still parses; prose documents keep the prose behaviour."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from contract import schema as S
from operators.pii import PIIScrubber
from pipeline.local import make_table, run_operator
from redaction import scrub_text
from redaction.code import (
    CODE_DETECTORS,
    CODE_PLACEHOLDER,
    CodeScrubber,
    KeywordSecret,
    check_placeholder,
    code_regions,
)
from redaction.detectors import Detector
from redaction.replacer import PIIReplacer

TESTS = Path(__file__).resolve().parent

# Planted secrets (made-up values in the real formats) and where they go.
AWS_ID = "AKIAQ3EGRLWXZ7TYN2PB"
AWS_SECRET = "kq8Zt3Wv1pLm9Xr2Yb6Nc4Hd0Jf5Gs7Ae1Ui3OoQ"
GITHUB = "ghp_" + "R8fK2mQ9xL4vT7wZ1nB5cJ3hY6dP0sA2eG4u"
SLACK = "xoxb-2841937465-5829174635-Zq4Xr8Lm2Vw6Tn1Yp9Kc3Hb7"
DB_PASSWORD = "S3cr3t-Pw!k9"
API_TOKEN = "tok_9f8e7d6c5b4a3f2e1d0c9b8a"
EMAIL = "jane.maintainer@example.org"
KEY_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----"
PLANTED = [AWS_ID, AWS_SECRET, GITHUB, SLACK, DB_PASSWORD, API_TOKEN, EMAIL, KEY_BODY]

PLANT_TOP = f"# Maintainer: {EMAIL}\n"
PLANT_BOTTOM = f'''

AWS_ACCESS_KEY_ID = "{AWS_ID}"
aws_secret_access_key = '{AWS_SECRET}'
GITHUB_TOKEN = "{GITHUB}"  # rotate monthly, ask {EMAIL}
SLACK_BOT = ("{SLACK}")
DATABASE_URL = "postgresql://admin:{DB_PASSWORD}@db.internal:5432/prod"
PRIVATE_KEY = """{PEM}"""
HEADERS = {{"Authorization": f"Bearer {API_TOKEN}"}}


def _planted_login(user, password="{DB_PASSWORD}", api_key=b'{API_TOKEN}'):
    """Log in as {EMAIL}."""
    return user, password, api_key
'''


def stage(**kw) -> PIIScrubber:
    """The PII stage without the pii_dense decision (the short crafted files are all PII)."""
    return PIIScrubber(min_pii_for_dense=10**6, **kw)


def plant(src: str) -> str:
    return PLANT_TOP + src + PLANT_BOTTOM


def code_docs(texts, langs) -> pa.Table:
    return make_table(texts, lang=langs, kind=[S.KIND_CODE] * len(texts))


REAL_FILES = sorted(p for p in TESTS.glob("test_*.py") if p.name != "test_pii_code.py")


def test_planted_secrets_scrubbed_and_test_files_still_parse():
    files = REAL_FILES
    assert len(files) >= 20
    texts = [plant(p.read_text(encoding="utf-8")) for p in files]
    for t in texts:
        ast.parse(t)
    res = run_operator(PIIScrubber(), code_docs(texts, ["code:python"] * len(texts)))
    assert res.rejected.num_rows == 0
    out = res.kept.column(S.TEXT).to_pylist()
    for path, text in zip(files, out):
        ast.parse(text, filename=str(path))  # still Python
        for value in PLANTED:
            assert value not in text, (path.name, value)
        assert '"<SECRET>"' in text and "'<SECRET>'" in text and '"""<SECRET>"""' in text
        assert "postgresql://<SECRET>@db.internal" in text and 'f"Bearer <SECRET>"' in text
    assert res.metrics["pii/secret"] >= 9 * len(files)


def test_pii_heavy_test_files_parse_after_code_scrub_not_after_prose_scrub():
    """tests/test_pii.py is full of PII inside Python: the prose scrubber breaks it, the code path does not."""
    src = (TESTS / "test_pii.py").read_text(encoding="utf-8")
    with pytest.raises(SyntaxError):
        ast.parse(scrub_text(src))
    res = run_operator(stage(), code_docs([src], ["code:python"]))
    ast.parse(res.kept.column(S.TEXT)[0].as_py())
    assert res.metrics["pii/email"] > 10


def test_prose_documents_keep_the_prose_behaviour():
    texts = ["Mail jane.doe@example.com or call 415-555-0132, key AKIAQ3EGRLWXZ7TYN2PB.",
             'x = weights@inputs.mean  # ask jane.doe@example.com\nkey = "AKIAQ3EGRLWXZ7TYN2PB"\n']
    prose = run_operator(stage(), make_table(texts, lang=["en", "en"], kind=[S.KIND_PROSE, None]))
    assert prose.kept.column(S.TEXT).to_pylist() == [scrub_text(t) for t in texts]
    no_kind = run_operator(stage(), make_table(texts))
    assert no_kind.kept.column(S.TEXT).to_pylist() == [scrub_text(t) for t in texts]
    # The same second text as code: the matrix product stays code, the comment and literal are scrubbed.
    code = run_operator(stage(), code_docs(texts[1:], ["code:python"]))
    assert code.kept.column(S.TEXT).to_pylist() == ['x = weights@inputs.mean  # ask <EMAIL>\nkey = "<SECRET>"\n']
    assert "pii/code_left_in_code" not in code.metrics  # other types are only looked for in literals and comments
    assert "<EMAIL>" in scrub_text(texts[1]).split("#")[0]  # prose scrubbing rewrote the expression


def test_mixed_batch_routes_rows():
    texts = ['token = "ghp_R8fK2mQ9xL4vT7wZ1nB5cJ3hY6dP0sA2eG4u"\n', "Write to jane.doe@example.com today."]
    t = make_table(texts, lang=["code:python", "en"], kind=[S.KIND_CODE, S.KIND_PROSE])
    res = run_operator(stage(), t)
    assert res.kept.column(S.TEXT).to_pylist() == ['token = "<SECRET>"\n', "Write to <EMAIL> today."]
    assert res.kept.column("pii_counts").to_pylist() == [[("secret", 1)], [("email", 1)]]


C_SRC = f'''/* Author: {EMAIL} */
#include <stdio.h>
static const char *aws_key = "{AWS_ID}";
static const char *db_password = "{DB_PASSWORD}";
static const char key_pem[] =
	"-----BEGIN RSA PRIVATE KEY-----\\n"
	"{KEY_BODY}\\n"
	"-----END RSA PRIVATE KEY-----\\n";
int main(void) {{ char c = '"'; printf("%s %c\\n", aws_key, c); return 0; }}
'''


def test_c_literals_stay_literals():
    res = run_operator(stage(), code_docs([C_SRC], ["code:c"]))
    out = res.kept.column(S.TEXT)[0].as_py()
    for value in (EMAIL, AWS_ID, DB_PASSWORD, KEY_BODY):
        assert value not in out
    assert out.count('"') == C_SRC.count('"') and out.count("'") == C_SRC.count("'")
    assert '"<SECRET>\\n"' in out and "/* Author: <EMAIL> */" in out
    assert 'printf("%s %c\\n", aws_key, c)' in out


SH_SRC = f'''#!/bin/sh
# deploy script, questions to {EMAIL}
export GITHUB_TOKEN={GITHUB}
export SLACK_TOKEN='{SLACK}'
curl -H "Authorization: Bearer {API_TOKEN}" "https://admin:{DB_PASSWORD}@api.example.com/v1/deploy"
echo "$#" ${{#GITHUB_TOKEN}}
cat > key.pem <<EOF
{PEM}
EOF
wget https://admin:{DB_PASSWORD}$SUFFIX@api.example.com/
'''


def test_shell_bare_token_becomes_an_identifier():
    res = run_operator(stage(), code_docs([SH_SRC], ["code:shell"]))
    out = res.kept.column(S.TEXT)[0].as_py()
    for value in (EMAIL, GITHUB, SLACK, API_TOKEN):
        assert value not in out
    assert "https://<SECRET>@api.example.com/v1/deploy" in out
    assert f"export GITHUB_TOKEN={CODE_PLACEHOLDER}\n" in out and "export SLACK_TOKEN='<SECRET>'" in out
    assert f"<<EOF\n{CODE_PLACEHOLDER}\nEOF\n" in out and KEY_BODY not in out  # a key block in a heredoc
    # a password holding "$" in code is left (replacing it could change the command) and counted
    assert res.metrics["pii/code_left_in_code"] == 1
    if shutil.which("sh"):
        assert subprocess.run(["sh", "-n"], input=out, text=True, capture_output=True).returncode == 0


def test_javascript_template_and_pseudonyms():
    src = f"const url = `https://hooks.slack.com/services/T0123ABCD/B0456EFGH/{'a1B2c3D4e5F6g7H8i9J0k1L2'}`;\n" \
          f"const cfg = {{ clientSecret: '{AWS_SECRET}', owner: \"{EMAIL}\" }};\n"
    res = run_operator(stage(mode="pseudonym", salt="s"), code_docs([src], ["code:javascript"]))
    out = res.kept.column(S.TEXT)[0].as_py()
    assert out.startswith("const url = `<SECRET_") and "clientSecret: '<SECRET_" in out and 'owner: "<EMAIL_' in out
    assert out.count("`") == 2 and out.count("'") == 2 and out.count('"') == 2


def test_keyword_secret_rules():
    det = KeywordSecret()
    keep = ['field = "access_token"', 'password = os.environ["DB_PASSWORD"]', 'token = "<your-token>"',
            'api_key = "xxxxxxxxxxxxxxxx"', 'PASSWORD_FIELD = "PASSWORD_HASH"', 'secret = "short"',
            'token_type = "bearer"']
    for line in keep:
        assert det.find(line) == [], line
    for line, value in [(f'db_password = "{DB_PASSWORD}"', DB_PASSWORD), (f"'api_key': '{API_TOKEN}'", API_TOKEN),
                        (f'ClientSecret := "{AWS_SECRET}"', AWS_SECRET), (f"auth_token => '{API_TOKEN}'", API_TOKEN)]:
        (s, e), = det.find(line)
        assert line[s:e] == value


def test_lexer_regions():
    src = 'a = "x#y"  # note "q"\nb = r\'\'\'m\nn\'\'\'\n'
    regions = [(src[s:e], k) for s, e, k in code_regions(src, "code:python")]
    assert regions == [("x#y", "string"), (' note "q"', "comment"), ("m\nn", "string")]
    doc = 'def f():\n    """Doc."""\n    return "s"\n'
    assert [(doc[s:e], k) for s, e, k in code_regions(doc, "code:python")] == [("Doc.", "docstring"), ("s", "string")]
    c = 'x = \'"\'; // it\'s "fine"\ns = "a\\"b"; /* c */'
    assert [(c[s:e], k) for s, e, k in code_regions(c, "code:c")] == [
        ('"', "string"), (' it\'s "fine"', "comment"), ('a\\"b', "string"), (" c ", "comment")]


class _Quoted(Detector):
    type = "secret"
    placeholder = '"X"'
    trigger = "."

    def find(self, text):
        return []


def test_unsafe_placeholders_are_refused():
    check_placeholder("<SECRET>")
    for bad in ('"X"', "<A'B>", "${X}", "<%X>", "<X*/>", "a\\b"):
        with pytest.raises(ValueError):
            check_placeholder(bad)
    with pytest.raises(ValueError):
        CodeScrubber(PIIReplacer([_Quoted()]))
    for cls in CODE_DETECTORS:
        check_placeholder(cls.placeholder)
