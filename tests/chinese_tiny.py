"""Tiny random models that read Chinese, built and saved locally like a hub download:
- a bert-base-chinese look-alike: BertForMaskedLM + WordPiece, which splits Chinese text
  into single characters (each also as a "##" piece, as in the real vocabulary);
- a paraphrase-multilingual-MiniLM-L12-v2 look-alike: a BertModel with XLM-R's kind of
  SentencePiece tokenizer (Unigram, "▁" before a word, <s> ... </s>), which may keep
  several characters in one piece ("北京")."""
from __future__ import annotations

CHARS = list("我爱北京天安门今气很好是的人猫狗在上坐一个学生中国")
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "a", "is", ".", ",", "!", "?", "。", "，"]
# multi-character pieces of the SentencePiece build (a Unigram model prefers them)
ZH_WORDS = ["北京", "天安门", "今天", "天气", "学生", "中国"]


def build_tiny_bert_chinese(folder, seed: int = 0):
    """BertForMaskedLM (2 layers, 2 heads, d 16) + a WordPiece vocabulary of Chinese
    characters and a few English words, cased like bert-base-chinese."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *CHARS, *("##" + c for c in CHARS),
              *WORDS]
    vocab = {p: i for i, p in enumerate(dict.fromkeys(pieces))}
    BertTokenizerFast(vocab=vocab, do_lower_case=False, tokenize_chinese_chars=True,
                      model_max_length=64).save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                     # larger weights: attributions have something to explain
                     initializer_range=0.3)
    BertForMaskedLM(cfg).eval().save_pretrained(folder)
    return folder


def build_tiny_multilingual(folder, seed: int = 0):
    """BertModel (2 layers, 2 heads, d 16) + an XLM-R-style Unigram tokenizer."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, XLMRobertaTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>"]           # XLM-R's order: pad is 1
    words = [*ZH_WORDS, *CHARS, *WORDS]
    pieces = [(s, 0.0) for s in specials]
    for w in words:           # longer pieces score higher, so "北京" beats "北" + "京"
        pieces += [("▁" + w, -10.0 + len(w)), (w, -12.0 + len(w))]
    pieces += [("▁", -15.0), ("<mask>", 0.0)]            # XLM-R's mask is its last id
    tk = Tokenizer(models.Unigram(pieces, unk_id=3, byte_fallback=False))
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tk.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)])
    XLMRobertaTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>",
                            sep_token="</s>", cls_token="<s>", unk_token="<unk>",
                            pad_token="<pad>", mask_token="<mask>",
                            model_max_length=64).save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(pieces), hidden_size=16, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                     pad_token_id=1, initializer_range=0.3)
    BertModel(cfg).eval().save_pretrained(folder)
    return folder


def build_tiny_chinese_clip(folder, seed: int = 0, image_size: int = 32, patch: int = 8):
    """A random ChineseCLIPModel (2 layers, 4 heads per tower) + a BERT WordPiece tokenizer
    of Chinese characters and the CLIP tests' English words + its image processor."""
    import torch
    from clip_tiny import WORDS as CLIP_WORDS
    from transformers import (BertTokenizerFast, ChineseCLIPConfig, ChineseCLIPImageProcessor,
                              ChineseCLIPModel)

    folder.mkdir(parents=True, exist_ok=True)
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *CHARS, *("##" + c for c in CHARS),
              *WORDS, *CLIP_WORDS, "##s"]
    vocab = {p: i for i, p in enumerate(dict.fromkeys(pieces))}
    BertTokenizerFast(vocab=vocab, do_lower_case=True, tokenize_chinese_chars=True,
                      model_max_length=32).save_pretrained(folder)
    # as OFA-Sys/chinese-clip-*: the whole image squashed to a square, no centre crop
    ChineseCLIPImageProcessor(size={"height": image_size, "width": image_size},
                              do_center_crop=False).save_pretrained(folder)
    tower = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    cfg = ChineseCLIPConfig(
        text_config=dict(tower, vocab_size=len(vocab), max_position_embeddings=32),
        vision_config=dict(tower, image_size=image_size, patch_size=patch), projection_dim=16)
    torch.manual_seed(seed)
    ChineseCLIPModel(cfg).eval().save_pretrained(folder)
    return folder
