#!/usr/bin/python3
"""Expected evaluation scores for llama-ts's eval tests, computed independently in PyTorch.

Builds a small random LLaMA (vocab of test/fixtures/tokenizer/small-bpe.model) with the
from-scratch reference in tools/llama_reference.py, writes it as a model folder to
test/fixtures/eval/model/ (with that tokenizer.model), then scores the hand-written task
samples in test/fixtures/eval/ the way lm-evaluation-harness does: harness prompts (written
again here in Python), SentencePiece tokenisation (context trailing space moved to the
continuation; continuation = encode(ctx+cont)[len(encode(ctx)):]; BOS first), log-likelihood
by full recomputation of ctx + cont[:-1] (no KV cache), acc / acc_norm / paper. Perplexity
on ppl.txt with window 16 / stride 8. Output: test/fixtures/eval/expected.json.

Also, for the harness-compatibility tests: each task's standard errors (statistics.stdev / sqrt(n),
the harness's mean_stderr), draws of CPython's random.Random(seed).sample (the harness's
few-shot sampler), and exact-match decisions of the harness's nq_open / triviaqa metric and of
the official TriviaQA normalize_answer (both written again here in Python) on hand-picked
answers. Output: test/fixtures/eval/harness.json.

Usage: /usr/bin/python3 tools/gen_eval_fixtures.py [--harness-only]
(--harness-only: only harness.json, from expected.json; needs neither torch nor sentencepiece)
"""
import json
import math
import os
import random
import re
import shutil
import statistics
import string
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVAL = os.path.join(ROOT, "test", "fixtures", "eval")
TOK = os.path.join(ROOT, "test", "fixtures", "tokenizer", "small-bpe.model")

CFG = dict(vocab_size=1200, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
           num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0,
           max_position_embeddings=512, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)


def read_jsonl(name):
    out = []
    with open(os.path.join(EVAL, name)) as fh:
        for i, line in enumerate(fh):
            if line.strip():
                try:
                    out.append((i + 1, json.loads(line)))
                except json.JSONDecodeError:
                    out.append((i + 1, None))
    return out


def labels(name):
    with open(os.path.join(EVAL, name)) as fh:
        return [l.strip() for l in fh.read().rstrip("\n").split("\n")]


def hs_pre(text):
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


# Each returns (contexts, choices, gold) or raises for a malformed record.
def hellaswag(d, _):
    ctx = d["ctx_a"] + " " + d["ctx_b"].capitalize()
    return [hs_pre(d["activity_label"] + ": " + ctx)], [hs_pre(e) for e in d["endings"]], int(d["label"])


def piqa(d, lab):
    return ["Question: " + d["goal"] + "\nAnswer:"], [d["sol1"], d["sol2"]], int(lab)


def siqa(d, lab):
    return ["Q: " + d["context"] + " " + d["question"] + "\nA:"], [d["answerA"], d["answerB"], d["answerC"]], int(lab) - 1


def arc_parts(d):
    if isinstance(d["question"], dict):
        stem = d["question"]["stem"]
        texts = [c["text"] for c in d["question"]["choices"]]
        labs = [c["label"] for c in d["question"]["choices"]]
    else:
        stem = d["question"]
        texts, labs = d["choices"]["text"], d["choices"]["label"]
    return stem, texts, labs.index(d["answerKey"].lstrip())


def arc(d, _):
    stem, texts, gold = arc_parts(d)
    return ["Question: " + stem + "\nAnswer:"], texts, gold


def obqa(d, _):
    stem, texts, gold = arc_parts(d)
    return [stem], texts, gold


def boolq(d, _):
    if not isinstance(d["answer"], bool):
        raise ValueError("answer")
    return [d["passage"] + "\nQuestion: " + d["question"] + "?\nAnswer:"], ["no", "yes"], int(d["answer"])


def winogrande(d, _):
    i = d["sentence"].index("_")
    after = d["sentence"][i + 1:].strip()
    return [d["sentence"][:i] + d["option1"], d["sentence"][:i] + d["option2"]], [after, after], int(d["answer"]) - 1


def mc(d, _):
    if not (0 <= d["gold"] < len(d["choices"])):
        raise ValueError("gold")
    return [d["context"]], d["choices"], d["gold"]


TASKS = [
    # task, file, labels, builder, unconditional, delimiter rule
    ("hellaswag", "hellaswag.jsonl", None, hellaswag, False),
    ("piqa", "piqa-valid.jsonl", "piqa-valid-labels.lst", piqa, False),
    ("siqa", "siqa-dev.jsonl", "siqa-dev-labels.lst", siqa, False),
    ("arc_easy", "arc_easy.jsonl", None, arc, False),
    ("arc_challenge", "arc_challenge.jsonl", None, arc, False),
    ("boolq", "boolq.jsonl", None, boolq, True),
    ("winogrande", "winogrande.jsonl", None, winogrande, False),
    ("openbookqa", "openbookqa.jsonl", None, obqa, True),
    ("mc", "mc.jsonl", None, mc, False),
]


def main():
    import sentencepiece as spm
    import torch
    import llama_reference as ref
    folder = os.path.join(EVAL, "model")
    W = ref.make_weights(CFG, 7)
    ref.write_folder(folder, CFG, W, "F32")
    shutil.copyfile(TOK, os.path.join(folder, "tokenizer.model"))
    Wf = ref.round_to(W, "F32")
    sp = spm.SentencePieceProcessor(model_file=TOK)
    bos = sp.bos_id()

    def encode_pair(ctx, cont):
        n = len(ctx) - len(ctx.rstrip())
        if n > 0:
            cont = ctx[-n:] + cont
            ctx = ctx[:-n]
        if ctx == "":
            return [bos], sp.encode(cont)
        whole = sp.encode(ctx + cont)
        c = sp.encode(ctx)
        return [bos] + c, whole[len(c):]

    def loglik(ctx, cont):
        c, t = encode_pair(ctx, cont)
        seq = c + t
        logits = ref.forward(CFG, Wf, seq[:-1])
        lp = torch.log_softmax(logits, dim=-1)
        return float(sum(lp[len(c) - 1 + i, tok] for i, tok in enumerate(t)))

    expected = {"config": CFG, "tasks": {}}
    for name, file, labfile, build, uncond in TASKS:
        recs = read_jsonl(file)
        labs = labels(labfile) if labfile else [None] * len(recs)
        items, skipped = [], 0
        for (line, d), lab in zip(recs, labs):
            try:
                if d is None:
                    raise ValueError("json")
                contexts, choices, gold = build(d, lab)
            except (ValueError, KeyError, TypeError):
                skipped += 1
                continue
            delim = " "
            if name == "mc" and (contexts[0] == "" or contexts[0][-1].isspace()):
                delim = ""
            lls = [loglik(contexts[0] if len(contexts) == 1 else contexts[i], delim + c) for i, c in enumerate(choices)]
            chars = [len(c) for c in choices]
            item = {"line": line, "gold": gold, "loglikelihoods": lls, "chars": chars}
            acc = max(range(len(lls)), key=lambda i: (lls[i], -i))
            acc_norm = max(range(len(lls)), key=lambda i: (lls[i] / chars[i], -i))
            paper = acc_norm
            if uncond:
                ulls = [loglik("Answer:", delim + c) for c in choices]
                item["unconditional"] = ulls
                paper = max(range(len(lls)), key=lambda i: (lls[i] - ulls[i], -i))
            item["pred"] = {"acc": acc, "acc_norm": acc_norm, "paper": paper}
            items.append(item)
        n = len(items)
        metrics = {k: sum(it["pred"][k] == it["gold"] for it in items) / n for k in ("acc", "acc_norm", "paper")}
        expected["tasks"][name] = {"file": file, "n": n, "skipped": skipped, "items": items, "metrics": metrics}
        print(name, n, skipped, metrics)

    # Perplexity: BOS + tokens, window 16, stride 8, each token scored once.
    with open(os.path.join(EVAL, "ppl.txt")) as fh:
        text = fh.read()
    ids = [bos] + sp.encode(text)
    window, stride = 16, 8
    nll, nxt, begin = 0.0, 1, 0
    while nxt < len(ids):
        last = min(begin + window, len(ids) - 1)
        lp = torch.log_softmax(ref.forward(CFG, Wf, ids[begin:last]), dim=-1)
        for j in range(nxt, last + 1):
            nll -= float(lp[j - 1 - begin, ids[j]])
        nxt = last + 1
        begin += stride
    nbytes = len(text.encode("utf-8"))
    words = len(re.split(r"\s+", text))
    expected["perplexity"] = {
        "window": window, "stride": stride, "nll": nll, "tokens": len(ids) - 1, "bytes": nbytes,
        "token_perplexity": math.exp(nll / (len(ids) - 1)), "bits_per_byte": nll / nbytes / math.log(2),
        "byte_perplexity": math.exp(nll / nbytes), "word_perplexity": math.exp(nll / words),
    }
    print("perplexity", expected["perplexity"])
    with open(os.path.join(EVAL, "expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1)


# lm-evaluation-harness's exact_match for nq_open / triviaqa (regexes, case, ASCII punctuation).
NQ_REGEXES = [r"\b(?:The |the |An |A |The |a |an )"]


def harness_norm(x, regexes):
    for r in regexes:
        x = re.sub(r, "", x)
    x = x.lower()
    return x.translate(str.maketrans("", "", string.punctuation))


# The official TriviaQA evaluation's normalize_answer.
def official_norm(s):
    s = s.replace("_", " ").lower()
    exclude = set(string.punctuation + "\u2018\u2019\u00b4`")
    s = "".join(ch if ch not in exclude else " " for ch in s)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split()).strip()


QA_CASES = [
    ("The Beatles.", ["beatles"]), ("the beatles", ["The Beatles"]), ("Beatles", ["The Beatles"]),
    ("  Paris ", ["Paris"]), ("paris", ["PARIS!"]), ("Santa Claus", ["Santa Claus"]), ("Santa Claus", ["Sant Claus"]),
    ("a day in the life", ["day in life"]), ("An apple", ["apple"]), ("Charles  Darwin", ["Charles Darwin"]),
    ("rock_and_roll", ["rock and roll"]), ("U.S.", ["US"]), ("U.S.", ["U S"]), ("l\u2019Oréal", ["L'Oréal", "loreal"]),
    ("théa", ["thé"]), ("éa b", ["éb"]), ("x\u3000y", ["x y"]), ("Mozart's", ["mozarts"]), ("The", [""]), ("1,000", ["1000"]),
    ("A Tale of Two Cities", ["tale of two cities"]), ("Theatre", ["atre"]), ("über a b", ["über b"]),
]


def harness_fixtures():
    out = {"stderr_cases": [], "task_stderr": {}, "random": [], "qa": []}
    # Standard errors of the tasks in expected.json, from its per-item predictions.
    with open(os.path.join(EVAL, "expected.json")) as fh:
        tasks = json.load(fh)["tasks"]
    for name, t in tasks.items():
        n = len(t["items"])
        out["task_stderr"][name] = {
            k: statistics.stdev([float(it["pred"][k] == it["gold"]) for it in t["items"]]) / math.sqrt(n) if n > 1 else None
            for k in ("acc", "acc_norm", "paper")}
    for xs in ([1, 0], [1, 0, 0], [1, 1, 1, 0, 1, 0, 0, 1, 1], [0.25, 1.5, -2.0, 3.0]):
        out["stderr_cases"].append({"x": xs, "stderr": statistics.stdev(xs) / math.sqrt(len(xs))})
    for seed in (1234, 0, 42, 2 ** 40 + 5, -7):
        for n, k in ((3, 1), (3, 2), (10, 2), (30, 5), (30, 7), (200, 3), (25, 6)):
            rnd = random.Random(seed)
            out["random"].append({"seed": seed, "n": n, "k": k, "draws": [rnd.sample(range(n), k) for _ in range(4)]})
    for pred, golds in QA_CASES:
        p = pred.strip()
        out["qa"].append({
            "prediction": pred, "answers": golds,
            "nq_open": any(harness_norm(p, NQ_REGEXES) == harness_norm(g, NQ_REGEXES) for g in golds),
            "triviaqa": any(harness_norm(p, []) == harness_norm(g, []) for g in golds),
            "official": any(official_norm(p) == official_norm(g) for g in golds),
            "official_norm": official_norm(pred),
        })
    with open(os.path.join(EVAL, "harness.json"), "w") as fh:
        json.dump(out, fh, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    if sys.argv[1:] == ["--harness-only"]:
        harness_fixtures()
    else:
        main()
        harness_fixtures()
