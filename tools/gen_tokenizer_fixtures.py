#!/usr/bin/python3
"""Writes the tokenizer parity fixtures in test/fixtures/tokenizer/ (SentencePiece is the producer).

Run with Debian's sentencepiece packages (apt-get install sentencepiece python3-sentencepiece):
    /usr/bin/python3 tools/gen_tokenizer_fixtures.py
npm test reads only the files this writes; it never runs Python.

Inputs: ../shared/fixtures/llama-tokenizer.model (the real LLaMA tokenizer; read, never copied)
and English sentences from /usr/share/common-licenses (Debian's license texts) mixed with
generated multilingual text for the small training corpus.

Outputs (all small; text fixtures are gzipped JSON):
  lines.json.gz              {"lines": [...]}: a few thousand varied test lines (seeded)
  small-bpe.model            spm_train, LLaMA options (bpe, split_digits, byte_fallback,
                             identity, dummy prefix, keep whitespace, unk 0 / bos 1 / eos 2)
  small-rules.model          spm_train with a small custom normalisation rule table (a
                             precompiled charsmap), remove_extra_whitespaces, no byte fallback
                             (runs of unknowns collapse into one <unk>), user-defined symbols
  small-unused.model         small-bpe.model with some merged pieces marked UNUSED (exercises
                             SentencePiece's re-segmentation of unused pieces)
  ts-trained.model           trained by `llama-ts tokenizer train` on the same corpus (so
                             SentencePiece's ids on it check that the trainer's output loads
                             and segments the same in both); needs `npm run build` first
  expected-<name>.json.gz    {"model", "ids": [[...] per line], "bos_eos": [...],
                             "decode": [{"ids", "text"}], "pieces": n}
"""
import gzip
import hashlib
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "test", "fixtures", "tokenizer")
LLAMA = os.path.join(HERE, "..", "..", "shared", "fixtures", "llama-tokenizer.model")

SEED = 20240601

# --------------------------------------------------------------------------------------
# Text material
# --------------------------------------------------------------------------------------

def license_sentences():
    """English sentences from Debian's license texts (plain prose, always installed)."""
    out = []
    d = "/usr/share/common-licenses"
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        with open(p, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for para in re.split(r"\n\s*\n", text):
            para = " ".join(para.split())
            for s in re.split(r"(?<=[.;:])\s+", para):
                if 8 <= len(s) <= 160:
                    out.append(s)
    return out


MULTI = [
    # German, French, Spanish, Portuguese, Italian, Polish, Czech, Turkish, Vietnamese
    "Der schnelle braune Fuchs springt über den faulen Hund, während die Straße naß ist.",
    "Größere Übungen fördern die Gesundheit; Äpfel und Birnen schmecken süß.",
    "L'élève a réussi l'examen grâce à sa persévérance et à son cœur généreux.",
    "Où est la bibliothèque ? Elle est fermée jusqu'à lundi, désolé.",
    "El niño comió paella en la playa mientras el señor leía un periódico.",
    "¿Cuántos años tienes? ¡Qué sorpresa tan agradable!",
    "A comunicação é essencial para a educação e o coração da nação.",
    "La città è bellissima, però il caffè costa più di un euro.",
    "Zażółć gęślą jaźń — pchnąć w tę łódź jeża lub ośm skrzyń fig.",
    "Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "Pijamalı hasta yağız şoföre çabucak güvendi.",
    "Tiếng Việt có dấu: Xin chào, tôi là một người học sinh.",
    # Greek, Russian, Ukrainian, Bulgarian
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Широка електрифікація південних губерній дасть поштовх розвитку.",
    "Всеки човек има право на образование и свобода на мисълта.",
    # Arabic, Hebrew, Persian, Hindi, Bengali, Tamil, Thai
    "الثعلب البني السريع يقفز فوق الكلب الكسول في الصباح الباكر.",
    "דג סקרן שט בים מאוכזב ולפתע מצא חברה.",
    "روباه قهوه‌ای سریع از روی سگ تنبل می‌پرد.",
    "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
    "দ্রুত বাদামী শিয়াল অলস কুকুরের উপর দিয়ে লাফিয়ে পড়ে।",
    "விரைவான பழுப்பு நரி சோம்பேறி நாயின் மேல் குதிக்கிறது.",
    "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ",
    # Chinese, Japanese, Korean
    "敏捷的棕色狐狸跳过了那只懒狗。今天天气很好，我们去公园散步吧。",
    "機械学習は人工知能の一分野です。東京タワーは高いですね！",
    "いろはにほへと ちりぬるを わかよたれそ つねならむ",
    "다람쥐 헌 쳇바퀴에 타고파. 한국어 문장을 토큰화합니다.",
]

CODE = [
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "for (let i = 0; i < arr.length; i++) {\n\tsum += arr[i] * 2;\n}",
    "const x = { a: 1, b: [2, 3], c: \"four\" };  // comment",
    "if (err != nil) {\n\t\treturn fmt.Errorf(\"failed: %w\", err)\n\t}",
    "SELECT id, name FROM users WHERE age >= 21 ORDER BY name DESC;",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
    "    x = np.zeros((32, 64), dtype=np.float32)  # 2048 elements",
    "<div class=\"row\"><span id='a1'>Hi &amp; bye</span></div>",
    "$ ls -la /usr/local/bin | grep -E '^-rwx' > out.txt 2>&1",
    "{\"key\": [1, 2.5e-3, true, null], \"nested\": {\"k\": \"v\"}}",
]

EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🇩🇪", "🇯🇵", "❤️", "🔥", "🙈", "🤖", "✨", "🎉", "🏳️‍🌈", "👩🏾‍💻", "🧑‍🚀", "☕", "⚡", "🍕", "🐍", "🦀", "🌍"]
COMBINING = ["e\u0301", "a\u0300", "n\u0303", "o\u0308", "u\u030a", "c\u0327", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334", "\u0915\u094d\u0937", "a\u20dd", "1\ufe0f\u20e3"]
RARE = [
    "𒀀𒀁𒀂", "𐌰𐌱𐌲𐌳", "ⵜⴰⵎⴰⵣⵉⵖⵜ", "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ", "ሰላም ለዓለም", "བོད་ཡིག", "ᠮᠣᠩᠭᠣᠯ", "𐀀𐀁𐀂", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙",
    "⠓⠑⠇⠇⠕", "ᚠᚢᚦᚨᚱᚲ", "ꦗꦮ", "𖼀𖼁", "𓀀𓀁𓂀", "ꓚꓰ", "𞤀𞤁𞤂", "ᜀᜁᜂ", "ᨀᨁᨂ", "ꤰꤱ", "𑀅𑀆𑀇", "ℵ₀ ∀x∈ℝ: x²≥0", "①②③ Ⅻ ½ ¾",
]
SPECIAL = ["<s>", "</s>", "<unk>", "foo bar", "foo▁bar", "<tool>x", "[INST] hi [/INST]", "<ctl>", "ﬁne Ａｂ ① e\u0301 … Ⅳ", "<0x41>", "<pad>", "\u2581", "\u2581\u2581", "\ufeff", "\u200b", "\u200d", "\u00a0", "\u3000", "\u2028", "\r\n", "\x7f", "\x01"]


def random_codepoint(r):
    while True:
        plane = r.random()
        if plane < 0.6:
            c = r.randrange(0x20, 0x3000)
        elif plane < 0.85:
            c = r.randrange(0x3000, 0x10000)
        else:
            c = r.randrange(0x10000, 0x30000)
        if 0xD800 <= c <= 0xDFFF:
            continue
        return chr(c)


def make_lines(r, english, llama_pieces):
    lines = []

    def add(s):
        lines.append(s)

    # Hand-picked edge cases first.
    for s in ["", " ", "  ", "   ", "\t", "\n", "\n\n", " \n ", "a", " a", "a ", " a ", "  a  b  ", "▁", "▁a", "a▁b", "Hello world", "Hello  world", "Hello\tworld", "Hello\nworld",
              "1", "12", "123", "0.5", "3.14159", "1,000,000", "abc123def", "x1y2z3", "2023-01-01T12:34:56Z", "v1.2.3-rc4", "COVID-19", "H2O", "A4", "9am", "1st 2nd 3rd 4th",
              "   leading", "trailing   ", "\ttab first", "tab last\t", "mixed \t \n whitespace", "\u00a0nbsp\u00a0", "ideographic\u3000space", "CRLF\r\nline",
              "<s>hello</s>", "<unk>", "<0x0A>", "\u2581\u2581\u2581", "a" * 100, " " * 40, "\t" * 10, "ab" * 60, "1" * 50, "😀" * 20, "語" * 30]:
        add(s)
    for s in EMOJI + COMBINING + RARE + SPECIAL + MULTI + CODE:
        add(s)

    def sentence():
        return r.choice(english)

    generators = []

    def g_english():
        return sentence()

    def g_english_multi():
        return " ".join(sentence() for _ in range(2))

    def g_whitespace():
        words = sentence().split(" ")
        out = ""
        for w in words:
            out += w + r.choice([" ", "  ", "   ", "\t", " \t ", "\n", " \n", "\n\n", "    ", " "])
        return r.choice(["", " ", "  ", "\t", "\n"]) + out

    def g_digits():
        parts = []
        for _ in range(r.randint(2, 8)):
            k = r.random()
            if k < 0.3:
                parts.append(str(r.randint(0, 10 ** r.randint(1, 12))))
            elif k < 0.5:
                parts.append(r.choice(["abc", "x", "Item", "v", "ID", "px", "km", "GHz"]) + str(r.randint(0, 9999)))
            elif k < 0.7:
                parts.append(str(r.randint(0, 999)) + r.choice(["th", "px", "kg", "ms", "%", "k", "MB", "e5"]))
            elif k < 0.85:
                parts.append(f"{r.random() * 1000:.{r.randint(1, 6)}f}")
            else:
                parts.append(r.choice(english).split(" ")[0])
        return r.choice([" ", "", "-", ", "]).join(parts)

    def g_multi():
        return r.choice(MULTI)[: r.randint(5, 200)] + r.choice(["", " ", " " + sentence()[:40]])

    def g_emoji():
        s = sentence()[: r.randint(5, 60)]
        for _ in range(r.randint(1, 4)):
            pos = r.randint(0, len(s))
            s = s[:pos] + r.choice(EMOJI) + r.choice(["", " "]) + s[pos:]
        return s

    def g_combining():
        base = r.choice(english).split(" ")
        return " ".join(w + r.choice(COMBINING) if r.random() < 0.3 else w for w in base[:12])

    def g_rare():
        return " ".join(r.choice(RARE + MULTI[-4:]) for _ in range(r.randint(1, 4)))

    def g_random_chars():
        return "".join(random_codepoint(r) if r.random() < 0.7 else r.choice(" \t\n") for _ in range(r.randint(1, 40)))

    def g_code():
        return r.choice(CODE)

    def g_pieces():
        # Random concatenations of LLaMA pieces: exercises many merges and score ties.
        n = r.randint(1, 12)
        return "".join(r.choice(llama_pieces) for _ in range(n)).replace("\u2581", " ")

    def g_special():
        return r.choice(english)[: r.randint(0, 30)] + r.choice(SPECIAL) + r.choice(english)[: r.randint(0, 30)]

    def g_long():
        return " ".join(sentence() for _ in range(r.randint(8, 12)))

    table = [
        (g_english, 20), (g_english_multi, 6), (g_whitespace, 10), (g_digits, 10), (g_multi, 10), (g_emoji, 6),
        (g_combining, 5), (g_rare, 6), (g_random_chars, 8), (g_code, 4), (g_pieces, 10), (g_special, 4), (g_long, 0.3),
    ]
    total = sum(w for _, w in table)
    while len(lines) < 2000:
        x = r.random() * total
        for g, w in table:
            x -= w
            if x <= 0:
                add(g())
                break
    return lines


def training_corpus(r, english):
    """~400 KB of mixed text for the small spm_train models."""
    out = []
    size = 0
    while size < 400_000:
        k = r.random()
        if k < 0.6:
            s = " ".join(r.choice(english) for _ in range(r.randint(1, 3)))
        elif k < 0.8:
            s = r.choice(MULTI)
        elif k < 0.9:
            s = r.choice(CODE).replace("\n", " ")
        else:
            s = f"In {r.randint(1900, 2030)} there were {r.randint(0, 10**6)} items costing ${r.random()*100:.2f} each {r.choice(EMOJI)}"
        out.append(s)
        size += len(s.encode()) + 1
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------

LLAMA_OPTS = [
    "--model_type=bpe", "--split_digits=true", "--byte_fallback=true", "--normalization_rule_name=identity",
    "--add_dummy_prefix=true", "--remove_extra_whitespaces=false", "--allow_whitespace_only_pieces=true",
    "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1", "--character_coverage=0.9995",
    "--max_sentence_length=4192", "--num_threads=2", "--minloglevel=2",
]


def spm_train(corpus_path, prefix, extra):
    cmd = ["spm_train", f"--input={corpus_path}", f"--model_prefix={prefix}"] + extra
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.remove(prefix + ".vocab")
    return prefix + ".model"


def read_varint(b, pos):
    result = 0
    shift = 0
    while True:
        byte = b[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def write_varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def mark_unused(model_bytes, ids):
    """Rewrites ModelProto.pieces[i].type = UNUSED (5) for i in ids (a tiny protobuf editor)."""
    out = bytearray()
    pos = 0
    index = 0
    while pos < len(model_bytes):
        key, p2 = read_varint(model_bytes, pos)
        no, wire = key >> 3, key & 7
        if wire == 2:
            length, p3 = read_varint(model_bytes, p2)
            payload = model_bytes[p3 : p3 + length]
            end = p3 + length
        elif wire == 0:
            _, end = read_varint(model_bytes, p2)
            payload = None
        elif wire == 5:
            end = p2 + 4
            payload = None
        else:
            raise ValueError("unexpected wire type")
        if no == 1 and wire == 2:
            if index in ids:
                # piece message: keep fields 1 (piece) and 2 (score), set 3 (type) to 5.
                sub = bytearray()
                q = 0
                while q < len(payload):
                    k2, q2 = read_varint(payload, q)
                    n2, w2 = k2 >> 3, k2 & 7
                    if w2 == 2:
                        l2, q3 = read_varint(payload, q2)
                        e2 = q3 + l2
                    elif w2 == 0:
                        _, e2 = read_varint(payload, q2)
                    else:
                        e2 = q2 + 4
                    if n2 != 3:
                        sub += payload[q:e2]
                    q = e2
                sub += bytes([3 << 3 | 0, 5])
                out += write_varint(1 << 3 | 2) + write_varint(len(sub)) + sub
            else:
                out += model_bytes[pos:end]
            index += 1
        else:
            out += model_bytes[pos:end]
        pos = end
    return bytes(out)


def decode_cases(r, sp, lines_ids):
    n = sp.get_piece_size()
    byte_ids = [i for i in range(n) if sp.is_byte(i)]
    control = [i for i in range(n) if sp.is_control(i)]
    unk = sp.unk_id()
    cases = []
    # Round trips of encoded lines with BOS/EOS sprinkled in.
    for ids in lines_ids[:60]:
        ids = list(ids)
        if control and r.random() < 0.5:
            ids = [r.choice(control)] + ids
        if control and r.random() < 0.3:
            ids = ids + [r.choice(control)]
        cases.append(ids)
    # Random id soups, heavy on byte pieces (invalid UTF-8, truncated sequences), unk and controls.
    for _ in range(200):
        ids = []
        for _ in range(r.randint(0, 16)):
            k = r.random()
            if byte_ids and k < 0.35:
                ids.append(r.choice(byte_ids))
            elif k < 0.45:
                ids.append(r.choice(control + [unk]))
            else:
                ids.append(r.randrange(n))
        cases.append(ids)
    # Valid multi-byte sequences split into byte pieces, and truncated ones.
    if byte_ids:
        base = min(byte_ids)
        for s in ["é", "語", "😀", "👨‍👩‍👧", "\u0301", "a\u00e9b"]:
            bs = list(s.encode("utf-8"))
            cases.append([base + b for b in bs])
            cases.append([base + b for b in bs[:-1]])
            cases.append([base + b for b in bs[1:]])
            cases.append([base + bs[0]] + [sp.piece_to_id("\u2581a") if sp.piece_to_id("\u2581a") != unk else 5] + [base + b for b in bs])
        for bad in [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xE0, 0x80, 0x80], [0xFF], [0x80, 0x80], [0xE2, 0x82], [0xF0, 0x9F, 0x98]]:
            cases.append([base + b for b in bad])
    out = []
    for ids in cases:
        out.append({"ids": ids, "text": sp.decode(ids)})
    return out


def expected_for(name, model_path, lines, r, file_label, limit=None):
    sp = spm.SentencePieceProcessor(model_file=model_path)
    lines = lines[:limit] if limit else lines
    ids = [sp.encode(s) for s in lines]
    bos_eos = []
    for s in lines[:50]:
        bos_eos.append({"bos": sp.encode(s, add_bos=True), "eos": sp.encode(s, add_eos=True), "both": sp.encode(s, add_bos=True, add_eos=True)})
    with open(model_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    data = {
        "model": file_label,
        "sha256": digest,
        "pieces": sp.get_piece_size(),
        "bos_id": sp.bos_id(),
        "eos_id": sp.eos_id(),
        "unk_id": sp.unk_id(),
        "pad_id": sp.pad_id(),
        "ids": ids,
        "bos_eos": bos_eos,
        "decode": decode_cases(r, sp, ids),
        "pieces_sample": [[i, sp.id_to_piece(i), sp.get_score(i)] for i in range(0, sp.get_piece_size(), max(1, sp.get_piece_size() // 50))],
    }
    write_gz(f"expected-{name}.json.gz", data)
    tokens = sum(len(x) for x in ids)
    print(f"{name}: {len(lines)} lines, {tokens} tokens, {len(data['decode'])} decode cases")


def write_gz(name, obj):
    raw = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with open(os.path.join(OUT, name), "wb") as f:
        # mtime=0 keeps the file byte-identical across runs.
        with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0) as gz:
            gz.write(raw)


def main():
    os.makedirs(OUT, exist_ok=True)
    if not os.path.exists(LLAMA):
        sys.exit(f"missing {LLAMA}")
    r = random.Random(SEED)
    english = license_sentences()
    llama = spm.SentencePieceProcessor(model_file=LLAMA)
    llama_pieces = [llama.id_to_piece(i) for i in range(llama.get_piece_size()) if not (llama.is_control(i) or llama.is_byte(i) or llama.is_unknown(i))]
    lines = make_lines(r, english, llama_pieces)
    # Drop lines SentencePiece cannot take (none expected; keeps the fixture honest if so).
    lines = [s for s in lines if "\x00" not in s]
    write_gz("lines.json.gz", {"lines": lines})

    corpus = training_corpus(random.Random(SEED + 1), english)

    with tempfile.TemporaryDirectory() as tmp:
        corpus_path = os.path.join(tmp, "corpus.txt")
        with open(corpus_path, "w", encoding="utf-8") as f:
            f.write(corpus)

        small = spm_train(corpus_path, os.path.join(tmp, "small-bpe"), LLAMA_OPTS + ["--vocab_size=1200"])
        rules_tsv = os.path.join(tmp, "rules.tsv")
        # Source and target are space-separated hex code points (SentencePiece's TSV format).
        rules = [
            ("FB01", "66 69"),          # ﬁ -> fi
            ("FF21", "41"),             # Ａ -> A
            ("FF41", "61"),             # ａ -> a
            ("3000", "20"),             # ideographic space -> space
            ("09", "20"),               # tab -> space
            ("2460", "31"),             # ① -> 1
            ("65 301", "E9"),           # e + combining acute -> é
            ("2026", "2E 2E 2E"),       # … -> ...
            ("A0", "20"),               # nbsp -> space
            ("2163", "49 56"),          # Ⅳ -> IV
        ]
        with open(rules_tsv, "w") as f:
            for src, dst in rules:
                f.write(f"{src}\t{dst}\n")
        rules_model = spm_train(corpus_path, os.path.join(tmp, "small-rules"), [
            "--model_type=bpe", "--vocab_size=800", f"--normalization_rule_tsv={rules_tsv}", "--remove_extra_whitespaces=true",
            "--split_digits=true", "--byte_fallback=false", "--character_coverage=0.98", "--user_defined_symbols=<tool>,[INST],foo▁bar",
            "--control_symbols=<ctl>", "--unk_id=0", "--bos_id=1", "--eos_id=2", "--num_threads=2", "--minloglevel=2",
        ])
        with open(small, "rb") as f:
            small_bytes = f.read()
        sp_small = spm.SentencePieceProcessor(model_file=small)
        merged = [i for i in range(sp_small.get_piece_size()) if len(sp_small.id_to_piece(i)) >= 2 and not (sp_small.is_byte(i) or sp_small.is_control(i) or sp_small.is_unknown(i))]
        unused_ids = set(random.Random(SEED + 2).sample(merged, 60))
        unused_bytes = mark_unused(small_bytes, unused_ids)

        # The same corpus through llama-ts's own trainer (needs `npm run build`): SentencePiece
        # must load the result and segment like llama-ts does.
        cli = os.path.join(HERE, "..", "dist", "src", "cli", "main.js")
        ts_model = os.path.join(tmp, "ts-trained.model")
        subprocess.run(["node", cli, "tokenizer", "train", "--input", corpus_path, "--vocab-size", "1200", "--out", ts_model, "--json"],
                       check=True, stdout=subprocess.DEVNULL)

        for name, src in [("small-bpe", small), ("small-rules", rules_model), ("ts-trained", ts_model)]:
            with open(src, "rb") as f:
                data = f.read()
            with open(os.path.join(OUT, name + ".model"), "wb") as f:
                f.write(data)
        with open(os.path.join(OUT, "small-unused.model"), "wb") as f:
            f.write(unused_bytes)

    expected_for("llama", LLAMA, lines, random.Random(SEED + 3), "../shared/fixtures/llama-tokenizer.model")
    for name, limit in [("small-bpe", 1200), ("small-rules", 1200), ("small-unused", 600), ("ts-trained", 600)]:
        expected_for(name, os.path.join(OUT, name + ".model"), lines, random.Random(SEED + 4), name + ".model", limit)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"fixtures: {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    main()
