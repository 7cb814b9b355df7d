#!/usr/bin/python3
"""Checks `llama-ts tokenizer train` against spm_train and records the result.

    npm run build && /usr/bin/python3 tools/check_tokenizer_training.py [--mb 30] [--vocab 32000 8000]

1. Builds a corpus from text already on this machine (nothing is downloaded): Vim's help
   files, manual pages in many languages (troff markup stripped), Debian's license texts and
   changelogs. Paragraphs are split deterministically into train (~MB) and held-out (~2 %).
2. For each vocab size, trains with spm_train (LLaMA's options) and with llama-ts (its
   defaults are LLaMA's), timing both.
3. Loads the llama-ts model with SentencePiece's Python binding (it must load), and compares
   on the held-out text: tokens per character for both models (each encoded by SentencePiece),
   and ids from llama-ts's encoder vs SentencePiece's on the llama-ts model and on spm's model.
4. Writes test/fixtures/tokenizer/training-check.json and prints a Markdown table.
"""
import argparse
import glob
import gzip
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, ".."))
WORK = "/tmp/llama-ts-tokenizer-check"
CLI = os.path.join(ROOT, "dist", "src", "cli", "main.js")

LLAMA_SPM_OPTS = [
    "--model_type=bpe", "--split_digits=true", "--byte_fallback=true", "--normalization_rule_name=identity",
    "--add_dummy_prefix=true", "--remove_extra_whitespaces=false", "--allow_whitespace_only_pieces=true",
    "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1", "--character_coverage=0.99995",
    "--max_sentence_length=4192", "--minloglevel=1",
]

TROFF_ESCAPE = re.compile(r"\\f[BIRP0-9]|\\f\(..|\\f\[[^\]]*\]|\\s[-+]?\d|\\\(..|\\\[[^\]]*\]|\\[&|^%:]|\\-|\\e|\\ ")


def man_text(path):
    try:
        with gzip.open(path, "rt", encoding="utf-8", errors="strict") as f:
            raw = f.read()
    except (UnicodeDecodeError, OSError, EOFError):
        return ""
    out = []
    for line in raw.split("\n"):
        if line.startswith((".", "'")):
            # Keep the text of headings and bold/italic macros, drop other requests.
            m = re.match(r"^\.(SH|SS|B|I|BR|IR|RB|RI|BI|IB|TP|IP)\s+(.*)$", line)
            if m:
                line = m.group(2).replace('"', "")
            else:
                out.append("")
                continue
        line = TROFF_ESCAPE.sub(lambda m: "-" if m.group(0) == "\\-" else "", line)
        out.append(line)
    return "\n".join(out)


def paragraphs():
    sources = []
    sources += sorted(glob.glob("/usr/share/vim/vim*/doc/*.txt"))
    sources += sorted(glob.glob("/usr/share/man/*/man*/*.gz"))
    sources += sorted(glob.glob("/usr/share/common-licenses/*"))
    sources += sorted(glob.glob("/usr/share/doc/*/changelog*.gz"))[:400]
    for p in sources:
        if p.endswith(".gz") and "/man/" in p:
            text = man_text(p)
        elif p.endswith(".gz"):
            try:
                with gzip.open(p, "rt", encoding="utf-8", errors="strict") as f:
                    text = f.read()
            except (UnicodeDecodeError, OSError, EOFError):
                continue
        else:
            if not os.path.isfile(p):
                continue
            with open(p, encoding="utf-8", errors="replace") as f:
                text = f.read()
        for para in re.split(r"\n\s*\n", text):
            para = para.strip("\n")
            if len(para) >= 20:
                yield para


def build_corpus(mb):
    os.makedirs(WORK, exist_ok=True)
    train = os.path.join(WORK, f"train-{mb}mb.txt")
    held = os.path.join(WORK, f"heldout-{mb}mb.txt")
    if os.path.exists(train) and os.path.exists(held):
        return train, held
    limit = mb * 1_000_000
    seen = set()
    n_train = n_held = 0
    with open(train, "w", encoding="utf-8") as ft, open(held, "w", encoding="utf-8") as fh:
        for para in paragraphs():
            key = hashlib.sha1(para.encode("utf-8")).digest()
            if key in seen:
                continue
            seen.add(key)
            size = len(para.encode("utf-8")) + 1
            if key[0] < 5:  # ~2 % held out, by content hash
                if n_held < limit // 40:
                    fh.write(para + "\n")
                    n_held += size
            elif n_train < limit:
                ft.write(para + "\n")
                n_train += size
            if n_train >= limit and n_held >= limit // 40:
                break
    return train, held


def run_llama_ts(args, stdin=None):
    return subprocess.run(["node", CLI] + args, check=True, capture_output=True, input=stdin)


def tokens_per_char(sp, lines):
    toks = sum(len(sp.encode(l)) for l in lines)
    chars = sum(len(l) for l in lines)
    return toks / chars, toks, chars


def parity(model_path, lines, label):
    """llama-ts `tokenize --file --json` vs SentencePiece on the same model."""
    sp = spm.SentencePieceProcessor(model_file=model_path)
    path = os.path.join(WORK, "parity-input.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    out = run_llama_ts(["tokenize", "--tokenizer", model_path, "--file", path, "--json"]).stdout
    ours = json.loads(out)["ids"]
    theirs = [sp.encode(l) for l in lines]
    bad = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    if bad:
        i = bad[0]
        print(f"  {label}: first mismatch on line {i}: {lines[i]!r}\n    ours {ours[i]}\n    spm  {theirs[i]}", file=sys.stderr)
    return {"lines": len(lines), "mismatches": len(bad) + abs(len(ours) - len(theirs))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=30, help="training corpus size in MB")
    ap.add_argument("--vocab", type=int, nargs="+", default=[32000, 8000])
    ap.add_argument("--spm-threads", type=int, default=2)
    args = ap.parse_args()
    if not os.path.exists(CLI):
        sys.exit("build first: npm run build")

    train, held = build_corpus(args.mb)
    with open(held, encoding="utf-8") as f:
        held_lines = [l for l in f.read().split("\n") if l]
    train_bytes = os.path.getsize(train)
    with open(train, encoding="utf-8") as f:
        train_lines = sum(1 for _ in f)
    print(f"corpus: {train_bytes / 1e6:.1f} MB train ({train_lines} lines), {os.path.getsize(held) / 1e6:.2f} MB held out ({len(held_lines)} lines)")

    results = []
    for vocab in args.vocab:
        spm_prefix = os.path.join(WORK, f"spm-{args.mb}mb-{vocab}")
        ours_path = os.path.join(WORK, f"llama-ts-{args.mb}mb-{vocab}.model")
        t = time.time()
        subprocess.run(["spm_train", f"--input={train}", f"--model_prefix={spm_prefix}", f"--vocab_size={vocab}",
                        f"--num_threads={args.spm_threads}"] + LLAMA_SPM_OPTS, check=True, capture_output=True)
        spm_seconds = time.time() - t
        t = time.time()
        summary = json.loads(run_llama_ts(["tokenizer", "train", "--input", train, "--vocab-size", str(vocab), "--out", ours_path, "--json"]).stdout)
        ours_seconds = time.time() - t

        sp_spm = spm.SentencePieceProcessor(model_file=spm_prefix + ".model")
        sp_ours = spm.SentencePieceProcessor(model_file=ours_path)  # must load in SentencePiece
        tpc_spm, tok_spm, chars = tokens_per_char(sp_spm, held_lines)
        tpc_ours, tok_ours, _ = tokens_per_char(sp_ours, held_lines)
        overlap = len({sp_spm.id_to_piece(i) for i in range(sp_spm.get_piece_size())} & {sp_ours.id_to_piece(i) for i in range(sp_ours.get_piece_size())})
        r = {
            "vocab_size": vocab,
            "spm_train_seconds": round(spm_seconds, 1),
            "spm_train_threads": args.spm_threads,
            "llama_ts_train_seconds": round(ours_seconds, 1),
            "llama_ts_pieces": summary["pieces"],
            "sentencepiece_loads_llama_ts_model": True,
            "heldout_chars": chars,
            "tokens_per_char_spm_train": round(tpc_spm, 5),
            "tokens_per_char_llama_ts": round(tpc_ours, 5),
            "llama_ts_vs_spm_tokens": round(tok_ours / tok_spm - 1, 5),
            "shared_pieces": overlap,
            "parity_on_llama_ts_model": parity(ours_path, held_lines, "llama-ts model"),
            "parity_on_spm_model": parity(spm_prefix + ".model", held_lines, "spm model"),
        }
        results.append(r)
        print(json.dumps(r))

    report = {
        "command": "/usr/bin/python3 tools/check_tokenizer_training.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "sentencepiece": spm.__version__,
        "corpus_mb": round(train_bytes / 1e6, 1),
        "corpus_lines": train_lines,
        "heldout_lines": len(held_lines),
        "results": results,
    }
    with open(os.path.join(ROOT, "test", "fixtures", "tokenizer", "training-check.json"), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print()
    print("| vocab | spm_train s | llama-ts s | tokens/char spm_train | tokens/char llama-ts | diff | parity (llama-ts model / spm model) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        p1, p2 = r["parity_on_llama_ts_model"], r["parity_on_spm_model"]
        print(f"| {r['vocab_size']} | {r['spm_train_seconds']} | {r['llama_ts_train_seconds']} | {r['tokens_per_char_spm_train']} | "
              f"{r['tokens_per_char_llama_ts']} | {100 * r['llama_ts_vs_spm_tokens']:+.2f} % | "
              f"{p1['lines'] - p1['mismatches']}/{p1['lines']} / {p2['lines'] - p2['mismatches']}/{p2['lines']} |")


if __name__ == "__main__":
    main()
