#!/usr/bin/env python3
"""Trains the embedded models' byte-level BPE tokenizer and tokenizes the training corpus.

Usage: python3 tools/train/prepare_data.py SHARED_DATA_DIR OUT_DIR [--vocab 8192]
Writes OUT_DIR/tokenizer.json (GPT-NeoX layout: NFC normalizer, ByteLevel pre-tokenizer and
decoder, BPE model, <|endoftext|> = id 0), OUT_DIR/train.bin and OUT_DIR/valid.bin (uint16 token
ids, one document after another, each followed by <|endoftext|>), and OUT_DIR/data.json.
The held-out split is the corpus' valid.txt (2 whole novels), never seen by the tokenizer trainer
or the model.
"""
import argparse
import glob
import json
import lzma
import os

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

EOT = "<|endoftext|>"


def documents(text):
    return [d.strip("\n") for d in text.split("\n" + EOT + "\n") if d.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shared")
    ap.add_argument("out")
    ap.add_argument("--vocab", type=int, default=8192)
    args = ap.parse_args()
    corpus = os.path.join(args.shared, "corpus", "gutenberg-victorian")
    train_docs = []
    for path in sorted(glob.glob(os.path.join(corpus, "train-*.txt.xz"))):
        with lzma.open(path, "rt", encoding="utf-8") as f:
            train_docs += documents(f.read())
    with open(os.path.join(corpus, "valid.txt"), encoding="utf-8") as f:
        valid_docs = documents(f.read())

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=args.vocab, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2)
    tok.train_from_iterator(train_docs, trainer=trainer)
    os.makedirs(args.out, exist_ok=True)
    tok.save(os.path.join(args.out, "tokenizer.json"))
    assert tok.token_to_id(EOT) == 0

    stats = {}
    for name, docs in (("train", train_docs), ("valid", valid_docs)):
        ids = []
        for enc in tok.encode_batch(docs):
            ids += enc.ids + [0]
        arr = np.asarray(ids, dtype=np.uint16)
        arr.tofile(os.path.join(args.out, f"{name}.bin"))
        stats[name] = {"documents": len(docs), "tokens": int(arr.size),
                       "bytes": sum(len(d.encode()) for d in docs)}
    stats["vocab_size"] = tok.get_vocab_size()
    with open(os.path.join(args.out, "data.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
