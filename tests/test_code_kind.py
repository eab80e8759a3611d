"""Document kind (prose/code) and code languages: the detector on the bundled sample, hints from the
input config and the record, normalize's code path, langid's ``code:<language>``."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pytest

from classifiers.code_detect import CodeDetector, classify, guess_language, hint_of, kind_of, language_of_path
from contract import schema as S
from contract.errors import ConfigError
from operators.langid import LangID
from operators.normalize import Normalizer
from pipeline.config import InputConfig, parse_config
from pipeline.io import read_local
from pipeline.local import make_table, run_operator

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _sample(name: str) -> list[dict]:
    with gzip.open(SAMPLE / name, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_detector_on_the_bundled_sample_is_at_least_98_percent_correct():
    """Text only (no hints): every code file of the sample against every prose and junk document.
    The rules were written on ../shared/corpora documents that are not in the sample."""
    det = CodeDetector()
    docs = [d for f in ("code.jsonl.gz", "en.jsonl.gz", "zh.jsonl.gz", "web_junk.jsonl.gz") for d in _sample(f)]
    # junk made from a code file (an exact copy, mojibake) keeps the file's domain_hint "code"
    code = [d["text"] for d in docs if d["domain_hint"] == "code"]
    prose = [d["text"] for d in docs if d["domain_hint"] != "code"]
    assert len(code) >= 60 and len(prose) > 2000
    kinds = [k.kind for k in classify(pa.array(code + prose), None, det)]  # what normalize and langid run
    code_ok = kinds[:len(code)].count("code")
    prose_ok = kinds[len(code):].count("prose")
    accuracy = (code_ok + prose_ok) / (len(code) + len(prose))
    assert code_ok / len(code) >= 0.95, f"code recall {code_ok}/{len(code)}"
    assert accuracy >= 0.98, f"accuracy {accuracy:.4f}"


SNIPPETS = {
    "c": '#include <stdio.h>\n#include <stdlib.h>\n\nint main(int argc, char **argv)\n{\n\tchar *p = malloc(16);\n'
         '\tif (p == NULL)\n\t\treturn 1;\n\tprintf("%s\\n", argv[0]);\n\tfree(p);\n\treturn 0;\n}\n',
    "cpp": '#include <iostream>\n#include <vector>\n\nnamespace demo {\ntemplate <typename T>\nT twice(T x) { return 2 * x; }\n'
           '}\n\nint main() {\n    std::vector<int> v{1, 2, 3};\n    for (auto x : v) std::cout << demo::twice(x) << "\\n";\n'
           '    return 0;\n}\n',
    "python": 'import os\nfrom pathlib import Path\n\n\nclass Walker:\n    def __init__(self, root):\n        self.root = Path(root)\n'
              '\n    def files(self):\n        for p in self.root.rglob("*"):\n            if p.is_file():\n'
              '                yield p\n\n\nif __name__ == "__main__":\n    print(list(Walker(os.getcwd()).files()))\n',
    "java": 'package org.example;\n\nimport java.util.List;\n\npublic class Hello {\n    @Override\n'
            '    public String toString() { return "hello"; }\n\n    public static void main(String[] args) {\n'
            '        System.out.println(new Hello());\n    }\n}\n',
    "javascript": 'const fs = require("fs");\n\nfunction readLines(path) {\n  return fs.readFileSync(path, "utf8").split("\\n");\n}\n'
                  '\nconst lines = readLines("a.txt").filter((l) => l.length > 0);\nconsole.log(lines.length);\n'
                  'module.exports = { readLines };\n',
    "typescript": 'import { readFileSync } from "fs";\n\ninterface Row {\n  name: string;\n  size: number;\n}\n\n'
                  'export type Rows = Row[];\n\nexport function load(path: string): Rows {\n'
                  '  const text: string = readFileSync(path, "utf8");\n  return JSON.parse(text) as Rows;\n}\n',
    "go": 'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tdata, err := os.ReadFile("a.txt")\n'
          '\tif err != nil {\n\t\tfmt.Println(err)\n\t\treturn\n\t}\n\tfmt.Println(len(data))\n}\n',
    "rust": 'use std::collections::HashMap;\n\nfn count(words: &[&str]) -> HashMap<String, usize> {\n'
            '    let mut m = HashMap::new();\n    for w in words {\n        *m.entry(w.to_string()).or_insert(0) += 1;\n'
            '    }\n    m\n}\n\nfn main() {\n    println!("{:?}", count(&["a", "b", "a"]));\n}\n',
    "shell": '#!/bin/bash\nset -euo pipefail\n\nfor f in "$@"; do\n  if [ -f "$f" ]; then\n    echo "file: ${f}"\n'
             '  fi\ndone\nexport OUT_DIR=/tmp/out\n',
}


@pytest.mark.parametrize("lang", sorted(SNIPPETS))
def test_snippets_are_code_in_their_language(lang):
    text = SNIPPETS[lang]
    assert CodeDetector().is_code(text)
    assert guess_language(text) == lang
    k = kind_of(text, None, CodeDetector())
    assert (k.kind, k.lang, k.origin) == ("code", f"code:{lang}", "detector")


def test_prose_with_code_words_stays_prose():
    det = CodeDetector()
    en = ("The err() and warn() family of functions display a formatted error message on the standard error "
          "output; in all cases the last component of the program name is printed.\n" * 5)
    zh = "本文介绍如何使用 Python 的 print() 函数输出文字；函数返回 None。\n" * 5
    index = "atof() (in module locale)\natoi() (in module locale)\nattach() (email.message.Message method)\n"
    assert not det.is_code(en) and not det.is_code(zh) and not det.is_code(index)


def test_hints_from_the_record_and_the_config():
    det = CodeDetector()
    prose_text = "A sentence of ordinary English prose that no rule reads as code at all, none whatsoever."
    assert language_of_path("src/lib.rs") == "rust" and language_of_path("Makefile") == "makefile"
    assert language_of_path("README.md") is None and language_of_path(".bashrc") is None
    # The Stack's fields, our corpora's lang, and the config's kind (which wins over detection)
    assert kind_of(prose_text, json.dumps({"max_stars_repo_path": "a/b/x.py"}), det).lang == "code:python"
    assert kind_of(prose_text, json.dumps({"lang": "C++"}), det).lang == "code:cpp"
    assert kind_of(prose_text, json.dumps({"lang": "Go"}), det).lang == "code:go"
    assert kind_of(prose_text, json.dumps({"lang": "code:python"}), det).origin == "record"
    assert kind_of(SNIPPETS["go"], json.dumps({"kind": "code"}), det).lang == "code:go"  # language by content
    assert kind_of(SNIPPETS["c"], json.dumps({"kind": "prose"}), det).kind == "prose"
    # a human language's ISO code is not a programming language: the detector decides
    assert hint_of({"lang": "cs"}) is None and hint_of({"lang": "en", "file": "x.jsonl.gz"}) is None
    assert kind_of(SNIPPETS["c"], json.dumps({"lang": "en"}), det).origin == "detector"


def test_reader_writes_the_config_kind_into_meta(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.jsonl").write_text(json.dumps({"text": "x = 1"}) + "\n")
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "hello", "kind": "mine"}) + "\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"text": "hello again"}) + "\n")
    cfg = InputConfig(paths=[str(tmp_path)], kinds={str(tmp_path / "src"): "code:python",
                                                    str(tmp_path / "b*"): "prose"})
    rows = {json.loads(r["meta"])["file"].rsplit("/", 1)[-1]: json.loads(r["meta"])
            for r in read_local(cfg).to_pylist()}
    assert rows["a.jsonl"]["kind"] == "code:python" and rows["b.jsonl"]["kind"] == "prose"
    assert "kind" not in rows["c.jsonl"]
    base = {"workdir": "w", "input": {"paths": ["x"], "kinds": {"x": "code:C"}}}
    with pytest.raises(ConfigError, match="kind"):
        parse_config(base)


def test_normalize_keeps_code_intact_and_sets_kind():
    code = ("# Share this\n[edit]\nimport os\n\n\n\ndef f(x):\r\n    return  {'a':   1,\t'b': 2}   \n"
            "\n\n    # ＡＢＣ １２３ full-width in a comment stays\n" + "y = '" + "z" * 3000 + "'\n")
    prose = "Share this: Facebook Twitter Email\nThe  café   is ＡＢＣ open.\n\n\n\nSecond paragraph here."
    res = run_operator(Normalizer(), make_table([code, prose]))
    rows = {r["id"]: r for r in res.kept.to_pylist()}
    want = code.replace("\r\n", "\n").replace("   \n", "\n").rstrip()
    assert rows["doc-0"]["text"] == want and rows["doc-0"][S.KIND] == "code"
    assert rows["doc-1"][S.KIND] == "prose"
    assert rows["doc-1"]["text"] == "The café is ABC open.\n\nSecond paragraph here."
    assert res.metrics["normalize/code_docs"] == 1
    off = run_operator(Normalizer(detect_code=False), make_table([code]))
    assert off.kept.column(S.KIND).to_pylist() == ["prose"] and "[edit]" not in off.kept.column("text")[0].as_py()


def test_langid_labels_code_and_skips_language_decisions():
    meta_rs = json.dumps({"path": "src/main.rs"})
    table = make_table([SNIPPETS["python"], SNIPPETS["shell"], "Bonjour, ceci est une phrase en français."])
    table = table.set_column(table.schema.get_field_index(S.META), S.META,
                             pa.array([None, meta_rs, None], pa.string()))
    res = run_operator(LangID(keep_langs=["en", "zh"]), table)
    kept = {r["id"]: r for r in res.kept.to_pylist()}
    assert kept["doc-0"]["lang"] == "code:python" and kept["doc-0"]["lang_score"] == 1.0
    assert kept["doc-1"]["lang"] == "code:rust" and kept["doc-1"][S.KIND] == "code"  # the path hint wins
    rej = res.rejected.to_pylist()
    assert [(r["id"], r["reject_reason"], r[S.KIND]) for r in rej] == [("doc-2", "lang_not_kept", "prose")]
    assert res.metrics["langid/code_docs"] == 2
    # a kind column set upstream (normalize) is honoured; keep_kinds rejects a kind
    table2 = make_table([SNIPPETS["go"]]).append_column(S.KIND, pa.array(["code"]))
    res2 = run_operator(LangID(keep_kinds=["prose"]), table2)
    r = res2.rejected.to_pylist()[0]
    assert r["reject_reason"] == "kind_not_kept" and r["reject_detail"] == "code:go:1.000"
