"""A tiny BERT model directory written by the tests themselves: no download, a few hundred KB.

Random weights, a WordPiece vocabulary of the characters and common English words and pieces
found in the samples, a fast tokenizer (tokenizer.json) and config.json, as `save_pretrained`
writes them, so HF's Auto* classes load it like any local model directory.
"""
import string
from pathlib import Path

WORDS = (
    "the of and to a in is was it for that on with as at by he she they we you i this be are from have "
    "not do n't 's said had has his her their an or but which one all will would there what so up out "
    "if about who when can more no time new year people first two like just also into over only after "
    "##s ##ed ##ing ##ly ##er ##est ##es ##t ##n ##e ##y ##al ##ion ##ation ##ment ##ness"
).split()


def write_tiny_bert(path: Path, *, hidden_size: int = 32, layers: int = 2, heads: int = 2,
                    max_position_embeddings: int = 64, seed: int = 0) -> Path:
    """Write a tiny uncased BERT (config, safetensors weights, vocab, fast tokenizer) to `path`."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    pieces += chars + ["##" + c for c in string.ascii_lowercase + string.digits] + WORDS
    seen = set()
    vocab = [p for p in pieces if not (p in seen or seen.add(p))]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True,
                                  model_max_length=max_position_embeddings)
    tokenizer.save_pretrained(str(path))
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden_size, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=hidden_size * 2,
                        max_position_embeddings=max_position_embeddings)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(path), safe_serialization=True)
    return path
