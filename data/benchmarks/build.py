"""Builds the tiny benchmark-like files of data/benchmarks (see README.md there). Deterministic.

    python data/benchmarks/build.py              # demo sets (need data/sample) + held-out sets (../shared/corpora)
    python data/benchmarks/build.py --demo-only

Demo sets (``demo_*``): hand-written items (CC0) plus a few items *planted* from documents of
data/sample, so the demo pipeline's decontaminate stage finds something. Held-out sets
(``heldout_*``): items made from ../shared/corpora texts that are not in data/sample, for the tests
(planted into sample documents in many disguises; and the sample must not match them).
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SAMPLE = ROOT / "data" / "sample"
CORPORA = ROOT.parent / "shared" / "corpora"

EN_ITEMS = [
    ("Which gas makes up the largest share of the air that people breathe at sea level on Earth?",
     ["Oxygen", "Nitrogen", "Carbon dioxide", "Argon"], "B"),
    ("A train leaves a station at nine in the morning and travels at a steady eighty kilometres per hour. "
     "How far has it gone by half past eleven?", ["160 km", "180 km", "200 km", "240 km"], "C"),
    ("In the water cycle, what is the name of the process by which water vapour cools and turns back into "
     "tiny liquid droplets that form clouds?", ["Evaporation", "Transpiration", "Condensation", "Sublimation"],
     "C"),
    ("Which organ of the human body produces insulin, the hormone that lets cells take up sugar from the blood?",
     ["The liver", "The pancreas", "The kidneys", "The spleen"], "B"),
    ("A shopkeeper buys a lamp for forty dollars and sells it for fifty dollars. What percentage profit does "
     "the shopkeeper make on the price paid?", ["10 percent", "20 percent", "25 percent", "50 percent"], "C"),
    ("Which of these statements best explains why the Moon shows phases when it is seen from the Earth?",
     ["The shadow of the Earth falls on a different part of the Moon every night of the month",
      "We see different parts of the half of the Moon that is lit by the Sun as it orbits the Earth",
      "The Moon gives off its own light, which grows stronger and weaker over a cycle of four weeks",
      "Clouds in the upper atmosphere of the Earth hide a changing part of the Moon every night"], "B"),
    ("What is the smallest prime number that is larger than thirty?", ["31", "33", "37", "39"], "A"),
    ("Which invention, usually credited to workshops in the German city of Mainz around 1450, made it far "
     "cheaper to copy books?", ["The telescope", "The movable-type printing press", "The steam engine",
                                "The mechanical clock"], "B"),
    ("A rectangle has a perimeter of thirty centimetres and one of its sides is six centimetres long. "
     "What is the area of the rectangle?", ["36 square cm", "45 square cm", "54 square cm", "90 square cm"], "C"),
    ("Which layer of the atmosphere contains most of the ozone that absorbs ultraviolet light coming from the Sun?",
     ["The troposphere", "The stratosphere", "The mesosphere", "The thermosphere"], "B"),
    ("When a ball is thrown straight up into the air and ignoring air resistance, what is its acceleration at the "
     "very top of its path?", ["Zero", "About 9.8 metres per second squared, pointing down",
                               "About 9.8 metres per second squared, pointing up", "It depends on its mass"], "B"),
    ("Which sentence uses the apostrophe correctly in a note left on the kitchen table for the family?",
     ["The dogs bowl is empty again.", "The dog's bowl is empty again.", "The dogs' bowl's is empty again.",
      "The dog bowl's is empty again."], "B"),
    ("A recipe for twelve biscuits needs three hundred grams of flour. How much flour is needed to bake "
     "eighteen biscuits with the same recipe?", ["400 g", "450 g", "500 g", "600 g"], "B"),
    ("Which of the following is the main reason that deserts can become very cold at night even after very hot days?",
     ["Dry air and clear skies let the heat of the ground radiate away quickly",
      "Sand reflects moonlight, which cools the ground", "Winds from the sea blow into deserts after sunset",
      "Desert plants absorb heat from the air during the night"], "A"),
    ("What do we call a word that has the opposite meaning of another word, such as hot and cold?",
     ["A synonym", "An antonym", "A homophone", "An acronym"], "B"),
    ("Which process do green plants use to turn light, water and carbon dioxide into sugar and oxygen inside their "
     "leaves?", ["Respiration", "Fermentation", "Photosynthesis", "Digestion"], "C"),
    ("If the price of a bus ticket rises from two euros to two euros and fifty cents, by what percentage has the "
     "price gone up?", ["15 percent", "20 percent", "25 percent", "50 percent"], "C"),
    ("Which of these is the best first step when a small pan of cooking oil catches fire on the stove at home?",
     ["Pour a glass of water onto the flames", "Cover the pan with a lid and turn off the heat",
      "Carry the burning pan outside as fast as possible", "Fan the flames with a towel"], "B"),
    ("In a computer, which component keeps the programs and data that are in use so the processor can reach them "
     "quickly?", ["The power supply", "The main memory", "The network card", "The case fan"], "B"),
    ("Why does a metal spoon feel colder to the touch than a wooden spoon that has been lying in the same room?",
     ["The metal is at a lower temperature than the wood",
      "Metal conducts heat away from the hand much faster than wood does",
      "Wood produces a small amount of heat of its own",
      "Metal absorbs moisture from the air, which cools it"], "B"),
]

ZH_ITEMS = [
    ("一个长方形的长是八厘米，宽是五厘米，它的周长和面积分别是多少？", "周长二十六厘米，面积四十平方厘米"),
    ("水在标准大气压下加热到多少摄氏度时会沸腾？这个温度在海拔很高的地方会怎样变化？", "一百摄氏度；海拔越高，沸点越低"),
    ("我国古代四大发明除了造纸术、印刷术和火药以外，还有哪一项？", "指南针"),
    ("小明每天早上跑步二十分钟，一个星期一共跑步多少分钟？合多少小时多少分钟？", "一百四十分钟，合两小时二十分钟"),
    ("植物的叶子为什么大多是绿色的？请用一句话说明其中的道理。", "因为叶子里含有叶绿素，叶绿素主要反射绿光"),
    ("一件衣服原价两百元，商店打八折出售，顾客实际需要付多少钱？", "一百六十元"),
    ("在太阳系的八大行星中，哪一颗行星离太阳最近，而且一年只有八十八天左右？", "水星"),
    ("请解释成语“画蛇添足”的意思，并说出它常用来比喻什么样的做法。", "比喻做了多余的事，反而坏了事"),
    ("一个数的三倍再加上十二等于四十五，这个数是多少？请写出解题的过程。", "（45-12）÷3=11，这个数是十一"),
    ("人体中负责把氧气从肺部运送到全身各处的血细胞叫什么？", "红细胞"),
    ("为什么冬天从室外走进温暖的房间时，眼镜片上会蒙上一层白雾？", "室内水蒸气遇到冰冷的镜片凝结成小水珠"),
    ("甲乙两地相距三百六十千米，一辆汽车每小时行驶九十千米，从甲地到乙地需要几个小时？", "四个小时"),
    ("我国面积最大的淡水湖是哪一个？它位于哪个省份？", "鄱阳湖，位于江西省"),
    ("月亮本身不会发光，为什么我们在夜晚能够看到明亮的月亮？", "月亮反射了太阳的光"),
    ("一根绳子长十二米，先剪去它的三分之一，再剪去剩下的一半，最后还剩多少米？", "四米"),
    ("请说出一年中白天最长、黑夜最短的节气是哪一个，它一般在几月份？", "夏至，一般在六月下旬"),
]

CODE_ITEMS = [
    ("def running_maximum(numbers: list[int]) -> list[int]:\n"
     '    """Return a list whose i-th element is the largest of numbers[0], ..., numbers[i].\n'
     "    >>> running_maximum([3, 1, 4, 1, 5])\n    [3, 3, 4, 4, 5]\n    \"\"\"\n",
     "    result = []\n    best = None\n    for value in numbers:\n        if best is None or value > best:\n"
     "            best = value\n        result.append(best)\n    return result\n"),
    ("def count_vowel_words(sentence: str) -> int:\n"
     '    """Count the words of sentence that start with a vowel, ignoring case.\n'
     "    >>> count_vowel_words('An apple is on every table')\n    4\n    \"\"\"\n",
     "    vowels = set('aeiou')\n    return sum(1 for word in sentence.split() if word and word[0].lower() in vowels)\n"),
    ("def rotate_grid(grid: list[list[int]]) -> list[list[int]]:\n"
     '    """Rotate a square grid a quarter turn clockwise and return the new grid.\n'
     "    >>> rotate_grid([[1, 2], [3, 4]])\n    [[3, 1], [4, 2]]\n    \"\"\"\n",
     "    size = len(grid)\n    return [[grid[size - 1 - row][col] for row in range(size)] for col in range(size)]\n"),
    ("def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:\n"
     '    """Merge overlapping closed intervals and return them sorted by start.\n'
     "    >>> merge_intervals([(5, 7), (1, 3), (2, 4)])\n    [(1, 4), (5, 7)]\n    \"\"\"\n",
     "    merged = []\n    for start, end in sorted(intervals):\n        if merged and start <= merged[-1][1]:\n"
     "            merged[-1] = (merged[-1][0], max(merged[-1][1], end))\n        else:\n"
     "            merged.append((start, end))\n    return merged\n"),
    ("def digit_root(number: int) -> int:\n"
     '    """Add up the decimal digits of a non-negative number again and again until one digit is left.\n'
     "    >>> digit_root(9875)\n    2\n    \"\"\"\n",
     "    while number >= 10:\n        number = sum(int(digit) for digit in str(number))\n    return number\n"),
    ("def balanced_brackets(text: str) -> bool:\n"
     '    """Tell whether the round, square and curly brackets in text are balanced and properly nested.\n'
     "    >>> balanced_brackets('a(b[c]{d}e)f')\n    True\n    \"\"\"\n",
     "    pairs = {')': '(', ']': '[', '}': '{'}\n    stack = []\n    for char in text:\n"
     "        if char in '([{':\n            stack.append(char)\n        elif char in pairs:\n"
     "            if not stack or stack.pop() != pairs[char]:\n                return False\n    return not stack\n"),
    ("def top_k_words(text: str, k: int) -> list[str]:\n"
     '    """Return the k most frequent lower-cased words of text, ties broken alphabetically.\n'
     "    >>> top_k_words('b a b c a b', 2)\n    ['b', 'a']\n    \"\"\"\n",
     "    counts = {}\n    for word in text.lower().split():\n        counts[word] = counts.get(word, 0) + 1\n"
     "    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]\n"),
    ("def run_length_encode(text: str) -> str:\n"
     '    """Encode runs of repeated characters as the character followed by the run length.\n'
     "    >>> run_length_encode('aaabccdddd')\n    'a3b1c2d4'\n    \"\"\"\n",
     "    out = []\n    i = 0\n    while i < len(text):\n        j = i\n        while j < len(text) and text[j] == text[i]:\n"
     "            j += 1\n        out.append(f'{text[i]}{j - i}')\n        i = j\n    return ''.join(out)\n"),
]


def _read(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _sample_doc(doc_id: str) -> str:
    for f in sorted(SAMPLE.glob("*.jsonl.gz")):
        for r in _read(f):
            if r["id"] == doc_id:
                return r["text"]
    raise SystemExit(f"{doc_id} not in data/sample")


def _between(text: str, start: str, end: str) -> str:
    a = text.index(start)
    return text[a:text.index(end, a) + len(end)]


def demo_sets() -> None:
    import opencc
    import pyarrow as pa
    import pyarrow.parquet as pq

    s2t = opencc.OpenCC("s2t")
    # English multiple choice: hand-written, plus two questions quoted from sample Wikipedia summaries
    en = [{"id": f"en-{i + 1:03d}", "question": q, "choices": c, "answer": a, "origin": "hand-written (CC0-1.0)"}
          for i, (q, c, a) in enumerate(EN_ITEMS)]
    tc = _sample_doc("en_wikipedia_vital_summaries:7520")
    en.append({"id": "planted-en-technetium",
               "question": _between(tc, "Technetium is one of only two", "by elements with stable forms,")
               + " the other being which element?",
               "choices": ["Promethium", "Polonium", "Radon", "Francium"], "answer": "A",
               "origin": "planted: data/sample en_wikipedia_vital_summaries:7520 (CC-BY-SA-4.0)"})
    rd = _sample_doc("en_wikipedia_vital_summaries:1717")
    en.append({"id": "planted-en-radish",
               "question": _between(rd, "The radish is a flowering plant", "the entire plant is edible")
               + "; which part of it is sometimes used as a leaf vegetable?",
               "choices": ["Its leaves", "Its bark", "Its pollen", "Its seeds"], "answer": "A",
               "origin": "planted: data/sample en_wikipedia_vital_summaries:1717 (CC-BY-SA-4.0)"})
    with open(HERE / "demo_mcq_en.jsonl", "w", encoding="utf-8") as f:
        for r in en:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")

    # Chinese QA (CSV): hand-written, plus one question quoted from a sample People's Daily article and
    # one written in Traditional characters (the sample article is Simplified)
    zh = [{"id": f"zh-{i + 1:03d}", "question": q, "answer": a, "origin": "hand-written (CC0-1.0)"}
          for i, (q, a) in enumerate(ZH_ITEMS)]
    crane = _sample_doc("zh_peoples_daily_199801:a262")
    zh.append({"id": "planted-zh-crane",
               "question": _between(crane, "丹顶鹤是国家一级珍禽", "越冬时飞到") + "哪里？",
               "answer": "盐城滩涂自然保护区",
               "origin": "planted: data/sample zh_peoples_daily_199801:a262 (PKU corpus, research use)"})
    rice = _sample_doc("zh_peoples_daily_199801:a567")
    zh.append({"id": "planted-zh-rice-traditional",
               "question": s2t.convert(_between(rice, "无锡大米久负盛名", "一张王牌。") + "这段话说的是哪里的大米？"),
               "answer": s2t.convert("无锡"),
               "origin": "planted, in Traditional characters: data/sample zh_peoples_daily_199801:a567 "
                         "(PKU corpus, research use)"})
    with open(HERE / "demo_qa_zh.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "question", "answer", "origin"])
        w.writeheader()
        w.writerows(zh)

    # Code (Parquet, HumanEval-like prompt + canonical solution): hand-written, plus copyreg.pickle
    # from a sample document of the Python standard library
    code = [{"task_id": f"code/{i + 1}", "prompt": p, "canonical_solution": s, "origin": "hand-written (CC0-1.0)"}
            for i, (p, s) in enumerate(CODE_ITEMS)]
    cr = _sample_doc("code_python_stdlib:88")
    fn = _between(cr, "def pickle(ob_type, pickle_function, constructor_ob=None):", "constructor(constructor_ob)\n")
    head, _, body = fn.partition("\n")
    code.append({"task_id": "planted/copyreg_pickle",
                 "prompt": head + '\n    """Register pickle_function as the reduction function for ob_type."""\n',
                 "canonical_solution": body, "origin": "planted: data/sample code_python_stdlib:88 (PSF-2.0)"})
    pq.write_table(pa.Table.from_pylist(code), HERE / "demo_code.parquet")
    print(f"demo sets: {len(en)} en, {len(zh)} zh, {len(code)} code items")


# -- held-out sets -------------------------------------------------------------------------------------------
def _squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def _sentences_en(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", _squash(text)) if s.strip()]


def heldout_sets(n_en: int = 300, n_zh: int = 300, n_code: int = 100) -> None:
    rng = random.Random(20240917)
    sample_docs = [_squash(r["text"]) for f in sorted(SAMPLE.glob("*.jsonl.gz")) for r in _read(f)]
    # 24-character windows every 12 characters: any 40 characters of a sample document hold one
    windows = {d[i:i + 24] for d in sample_docs for i in range(0, max(len(d) - 23, 1), 12)}
    everything = "\n".join(sample_docs)

    def unseen(s: str) -> bool:
        s = _squash(s)[:200]
        if len(s) < 48:  # too short for the windows
            return s not in everything
        return not any(s[i:i + 24] in windows for i in range(len(s) - 23))

    # English: question = a summary's first sentence; choices = second sentences (long) or subjects (short)
    docs = [r["text"] for r in _read(CORPORA / "en_wikipedia_vital_summaries.jsonl.gz")]
    rng.shuffle(docs)
    cands = []
    for t in docs:
        ss = _sentences_en(t)
        if len(ss) >= 2 and 12 <= len(ss[0].split()) <= 60 and 8 <= len(ss[1].split()) <= 40 and unseen(t) \
                and all(unseen(s) for s in ss[:2]):
            cands.append(ss)
    en = []
    for i in range(min(n_en, len(cands) // 4)):
        ss = cands[i]
        others = [cands[len(cands) // 4 + 3 * i + k] for k in range(3)]
        if i % 2 == 0:
            choices = [ss[1]] + [o[1] for o in others]
        else:
            choices = [" ".join(ss[0].split()[:3])] + [" ".join(o[0].split()[:3]) for o in others]
        order = list(range(4))
        rng.shuffle(order)
        en.append({"id": f"heldout-en-{i:04d}", "question": ss[0], "choices": [choices[k] for k in order],
                   "answer": "ABCD"[order.index(0)]})

    # Chinese: question = a People's Daily line; choices = clauses of other lines
    lines = [_squash(r["text"]) for r in _read(CORPORA / "zh_peoples_daily_199801.jsonl.gz")]
    lines = [x for x in lines if unseen(x)]
    rng.shuffle(lines)
    long_q = [x for x in lines if 30 <= len(x) <= 110]
    short_q = [x for x in lines if 12 <= len(x) <= 19 and re.search(r"[\u4e00-\u9fff]{10}", x)]
    questions = [short_q[i] if i % 7 == 0 else long_q[i] for i in range(n_zh)]
    asked = set(questions)
    # no choice may hold another item's question (short questions are headlines, clauses too)
    clauses = [c for x in lines[:4000] if x not in asked for c in re.split(r"[，。；！？]", x)
               if 6 <= len(c) <= 18 and not any(q in c for q in short_q[:n_zh])]
    zh = []
    for i, q in enumerate(questions):
        choices = [clauses[4 * i + k] for k in range(4)]
        zh.append({"id": f"heldout-zh-{i:04d}", "question": q, "choices": choices, "answer": "ABCD"[i % 4]})

    # Code: documented functions of standard-library modules that are not in the sample
    mods = [r["text"] for r in _read(CORPORA / "code_python_stdlib.jsonl.gz")]
    rng.shuffle(mods)
    code: list[dict] = []
    seen_bodies: set[str] = set()
    seen_names: set[str] = set()
    for src in mods:
        if not unseen(src[:400]):
            continue
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        lines_src = src.splitlines(keepends=True)
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or not ast.get_docstring(node) or node.name.startswith("_"):
                continue
            n_lines = node.end_lineno - node.lineno + 1
            if not 8 <= n_lines <= 40 or node.decorator_list:
                continue
            doc_end = node.body[0].end_lineno
            prompt = "".join(lines_src[node.lineno - 1:doc_end])
            body = "".join(lines_src[doc_end:node.end_lineno])
            if len(body.split()) < 12 or not unseen(body) or body in seen_bodies or node.name in seen_names:
                continue
            seen_bodies.add(body)
            seen_names.add(node.name)
            code.append({"task_id": f"heldout-code/{len(code):03d}", "prompt": prompt, "canonical_solution": body})
            break
        if len(code) >= n_code:
            break
    for name, rows in (("heldout_en", en), ("heldout_zh", zh), ("heldout_code", code)):
        with gzip.GzipFile(HERE / f"{name}.jsonl.gz", "wb", compresslevel=9, mtime=0) as f:
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))
    print(f"held-out sets: {len(en)} en, {len(zh)} zh, {len(code)} code items")


if __name__ == "__main__":
    demo_sets()
    if "--demo-only" in sys.argv:
        pass
    elif CORPORA.is_dir():
        heldout_sets()
    else:
        print(f"no {CORPORA}: held-out sets not rebuilt", file=sys.stderr)
