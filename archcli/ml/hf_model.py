"""A Hugging Face model, tokenizer and config inside one thinc shim, loaded only from local disk.

The shim starts empty: `TransformerModel` is built from the config before any weights exist
(a saved pipeline must not need the original model directory), so the HF objects arrive either
at initialisation (`load_pretrained`, from `name`) or from a saved pipeline (`from_bytes` /
`load_dir`). Its bytes carry the config, the tokenizer files and safetensors weights, so a
pipeline that embeds a transformer in any component is self-contained.
"""
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import srsly
from thinc.api import PyTorchGradScaler, get_current_ops
from thinc.shims import PyTorchShim
from thinc.util import get_torch_default_device

from ..errors import ArchcliError, ConfigError, ModelDirError

EXTRA_HINT = "install archcli's transformers extra: pip install 'archcli[transformers]'"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")
# Models whose position ids start after the padding index: two fewer usable positions.
OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert", "longformer")


def load_errors() -> tuple:
    """What HF and safetensors raise on a damaged or foreign model directory."""
    errors = (OSError, ValueError, KeyError, TypeError, RuntimeError, EnvironmentError)
    try:
        from safetensors import SafetensorError

        errors += (SafetensorError,)
    except ImportError:
        pass
    return errors


def import_transformers():
    """`transformers` (with torch), or an error saying which extra to install."""
    # Local files only, whatever the caller's environment: archcli never downloads weights.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as err:
        raise ArchcliError(f"transformer models need torch and Hugging Face transformers ({err.name} is "
                           f"missing): {EXTRA_HINT}") from None
    transformers.logging.set_verbosity_error()
    return transformers


def check_model_dir(name: str, where: str) -> Path:
    """The local model directory `name` names, or a message saying what is missing from it."""
    path = Path(str(name)).expanduser()
    if not path.exists():
        looks_like_hub = "/" not in str(name) or str(name).count("/") == 1 and not str(name).startswith((".", "/", "~"))
        hint = (", never from the Hugging Face hub: download the model elsewhere (e.g. `huggingface-cli download "
                f"{name} --local-dir DIR`) and set this to DIR") if looks_like_hub else ""
        raise ConfigError(f"no model directory at '{name}'. archcli loads transformers only from a local directory "
                          f"(config.json, weights, tokenizer files){hint}", where=where)
    if not path.is_dir():
        raise ConfigError(f"'{name}' is a file; a transformer model is a directory with config.json, weights "
                          "and tokenizer files", where=where)
    if not (path / "config.json").exists():
        raise ConfigError(f"'{path}' has no config.json, so it is not a Hugging Face model directory", where=where)
    if not any((path / f).exists() for f in WEIGHT_FILES):
        raise ConfigError(f"'{path}' has no weights ({' or '.join(WEIGHT_FILES[:2])})", where=where)
    if not any((path / f).exists() for f in ("tokenizer.json", "vocab.txt", "tokenizer_config.json",
                                              "sentencepiece.bpe.model", "spiece.model", "vocab.json")):
        raise ConfigError(f"'{path}' has no tokenizer files (tokenizer.json, vocab.txt, ...)", where=where)
    return path


class HFShim(PyTorchShim):
    """PyTorchShim that owns the HF tokenizer and config too, and serialises all three."""

    def __init__(self, mixed_precision: bool = False, grad_scaler_config: Optional[Dict[str, Any]] = None) -> None:
        self.requested_mixed_precision = bool(mixed_precision)
        self.grad_scaler_config = dict(grad_scaler_config or {})
        super().__init__(None, mixed_precision=False, grad_scaler=PyTorchGradScaler(enabled=False))
        self.tokenizer = None
        self.external_weights = False  # True while a component writes the weights as files itself

    # --- state ----------------------------------------------------------------------------
    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    @property
    def hidden_width(self) -> int:
        config = self._model.config
        return int(getattr(config, "hidden_size", None) or getattr(config, "d_model"))

    @property
    def max_length(self) -> int:
        """Wordpieces one window may hold, special tokens included."""
        config = self._model.config
        limit = getattr(config, "max_position_embeddings", None) or 512
        if getattr(config, "model_type", "") in OFFSET_POSITIONS:
            limit -= 2
        tokenizer_limit = getattr(self.tokenizer, "model_max_length", None) or limit
        return int(min(limit, tokenizer_limit))

    def _set(self, hf_model, tokenizer) -> None:
        """Adopt a loaded model: move it to the current device, enable mixed precision on CUDA only."""
        device = get_torch_default_device()
        hf_model.to(device)
        self._model = hf_model
        self.tokenizer = tokenizer
        on_cuda = device.type == "cuda"
        self._mixed_precision = self.requested_mixed_precision and on_cuda
        self._grad_scaler = PyTorchGradScaler(enabled=self._mixed_precision, **self.grad_scaler_config)
        self._grad_scaler.to_(device)

    # --- loading --------------------------------------------------------------------------
    def load_pretrained(self, name: str, tokenizer_config: Dict[str, Any], transformer_config: Dict[str, Any],
                        where: str) -> None:
        """Load model, tokenizer and config from the local directory `name` (the config's `name`)."""
        transformers = import_transformers()
        path = check_model_dir(name, where)
        tokenizer_config = dict(tokenizer_config)
        limit = tokenizer_config.get("model_max_length")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            # transformers would keep it and fail later comparing it with a length.
            raise ConfigError(f"must be a whole number >= 1 (wordpieces), not {limit!r}",
                              where=f"{where.rsplit('.', 1)[0]}.tokenizer_config.model_max_length")
        if tokenizer_config.get("use_fast") is False:
            # The fast tokenizer's character offsets are what aligns wordpieces to tokens.
            warnings.warn(f"{where.rsplit('.', 1)[0]}.tokenizer_config: use_fast = false is overridden: archcli "
                          "aligns wordpieces by the fast tokenizer's character offsets, so it loads that one "
                          "(same vocabulary)", stacklevel=2)
            tokenizer_config["use_fast"] = True
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), **tokenizer_config)
            config = transformers.AutoConfig.from_pretrained(str(path), **transformer_config)
            hf_model = transformers.AutoModel.from_pretrained(str(path), config=config)
        except load_errors() as err:
            raise ConfigError(f"could not load the transformer at '{path}': {_first_line(err)}", where=where) from None
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigError(f"'{path}' has no fast tokenizer (tokenizer.json, or files transformers can convert "
                              "into one); archcli aligns wordpieces to tokens by the fast tokenizer's character "
                              "offsets", where=where)
        self._set(hf_model, tokenizer)

    def load_dir(self, path: Path) -> None:
        """Load a transformer that `save_dir` wrote, refusing weights that do not fit its config."""
        transformers = import_transformers()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
            config = transformers.AutoConfig.from_pretrained(str(path))
            hf_model, info = transformers.AutoModel.from_pretrained(str(path), config=config,
                                                                    output_loading_info=True)
        except load_errors() as err:
            raise ModelDirError(f"could not load the saved transformer: {_first_line(err)}", where=str(path)) from None
        problems = [f"{len(info[key])} {key.replace('_', ' ')} (e.g. {sorted(map(str, info[key]))[0]})"
                    for key in ("missing_keys", "unexpected_keys", "mismatched_keys") if info.get(key)]
        if problems:
            raise ModelDirError("the weights do not belong to the model its config.json describes: "
                                + "; ".join(problems), where=str(path))
        self._set(hf_model, tokenizer)

    def save_dir(self, path: Path) -> None:
        """config.json, model.safetensors and the tokenizer files, as `save_pretrained` writes them."""
        path.mkdir(parents=True, exist_ok=True)
        self._model.save_pretrained(str(path), safe_serialization=True)
        self.tokenizer.save_pretrained(str(path))

    # --- thinc serialisation --------------------------------------------------------------
    def to_bytes(self) -> bytes:
        if self._model is None or self.external_weights:
            return srsly.msgpack_dumps({"loaded": self._model is not None, "files": None})
        with tempfile.TemporaryDirectory() as tmp:
            self.save_dir(Path(tmp))
            files = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
        return srsly.msgpack_dumps({"loaded": True, "files": files})

    def from_bytes(self, bytes_data: bytes) -> "HFShim":
        msg = srsly.msgpack_loads(bytes_data)
        if msg.get("files"):
            with tempfile.TemporaryDirectory() as tmp:
                for filename, data in msg["files"].items():
                    (Path(tmp) / Path(filename).name).write_bytes(data)
                self.load_dir(Path(tmp))
        return self

    def to_device(self, device_type: str, device_id: int) -> None:  # pragma: no cover (GPU)
        if self._model is not None:
            super().to_device(device_type, device_id)


def ops_is_gpu() -> bool:
    return type(get_current_ops()).__name__ == "CupyOps"


def _first_line(err: BaseException) -> str:
    """The gist of a library error: its first lines that say something, at most 300 characters."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
    text = " ".join(lines[:2])
    return text if len(text) <= 300 else text[:297] + "..."


def padded_inputs(ids, lengths, pad_id: int, type_ids=None) -> Tuple[Any, Any, Any]:
    """(input_ids, attention_mask, token_type_ids) as int64 numpy arrays padded to the longest row."""
    import numpy

    width = int(max(lengths)) if len(lengths) else 0
    input_ids = numpy.full((len(lengths), width), pad_id, dtype="int64")
    mask = numpy.arange(width)[None, :] < numpy.asarray(lengths)[:, None]
    input_ids[mask] = numpy.concatenate(ids) if len(ids) else []
    token_type_ids = None
    if type_ids is not None:
        token_type_ids = numpy.zeros((len(lengths), width), dtype="int64")
        token_type_ids[mask] = numpy.concatenate(type_ids) if len(type_ids) else []
    return input_ids, mask.astype("int64"), token_type_ids
