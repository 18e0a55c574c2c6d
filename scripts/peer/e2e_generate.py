"""Peer of `train bench e2e` part (b): generation with the sirl model in PyTorch
(e2e_model.py; default the gpt2-small preset at vocab 32768, bf16 weights) for 64
random prompts of 64 tokens x 256 new tokens, temperature 1 (softmax + multinomial,
no EOS, so every prompt runs to 256 tokens), timed with the prefill included:
  kv_loop:      a hand-written KV-cache loop (one batched prefill, then 255 batched
                decode steps over a preallocated cache), eager;
  hf_generate:  Hugging Face LlamaForCausalLM with the matching config, generate()
                with do_sample, min_new_tokens = max_new_tokens = 256.
Prints one JSON line with tokens/s of each."""
import argparse
import time

import torch

from e2e_model import Model, add_model_args, emit


@torch.no_grad()
def kv_loop(model, prompts, new_tokens):
    B, P = prompts.shape
    cache = model.new_cache(B, P + new_tokens, torch.bfloat16)
    logits = model(prompts, cache, 0)[:, -1]
    out = []
    for i in range(new_tokens):
        tok = torch.multinomial(torch.softmax(logits.float(), dim=-1), 1)
        out.append(tok)
        if i + 1 < new_tokens:  # the last token is never fed back
            logits = model(tok, cache, P + i)[:, -1]
    return torch.cat(out, dim=1)


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    r = fn()
    torch.cuda.synchronize()
    return r, time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__)
    add_model_args(p)
    p.add_argument("--prompts", type=int, default=64)
    p.add_argument("--prompt-len", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--no-hf", action="store_true")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    prompts = torch.randint(0, a.vocab, (a.prompts, a.prompt_len), device="cuda")
    total = a.prompts * a.new_tokens
    res = {"op": "e2e_generate", "prompts": a.prompts, "prompt_len": a.prompt_len, "new_tokens": a.new_tokens, "vocab": a.vocab}

    model = Model(a).cuda().to(torch.bfloat16).eval()
    res["params"] = sum(q.numel() for q in model.parameters())
    kv_loop(model, prompts[:4], 8)  # warm-up
    toks, sec = timed(lambda: kv_loop(model, prompts, a.new_tokens))
    assert toks.shape == (a.prompts, a.new_tokens)
    res.update(kv_loop_s=sec, kv_loop_tokens_per_s=total / sec)
    del model
    torch.cuda.empty_cache()

    if not a.no_hf:
        try:
            from transformers import LlamaConfig, LlamaForCausalLM
            cfg = LlamaConfig(vocab_size=a.vocab, hidden_size=a.dim, intermediate_size=a.ffn, num_hidden_layers=a.layers,
                              num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, max_position_embeddings=a.max_seq,
                              rms_norm_eps=1e-5, tie_word_embeddings=not a.untied, attention_bias=False, mlp_bias=False,
                              bos_token_id=1, eos_token_id=2, pad_token_id=0)
            hf = LlamaForCausalLM(cfg).to("cuda", torch.bfloat16).eval()
            res["hf_params"] = sum(q.numel() for q in hf.parameters())
            mask = torch.ones_like(prompts)

            def gen(n, rows):
                with torch.no_grad():
                    return hf.generate(input_ids=prompts[:rows], attention_mask=mask[:rows], do_sample=True, top_k=0, top_p=1.0,
                                       temperature=1.0, max_new_tokens=n, min_new_tokens=n, pad_token_id=0)

            gen(8, 4)  # warm-up
            out, sec = timed(lambda: gen(a.new_tokens, a.prompts))
            res.update(hf_generate_s=sec, hf_generate_tokens_per_s=total / sec,
                       hf_generated=int(out.shape[1] - a.prompt_len), hf_attn=str(hf.config._attn_implementation))
        except Exception as e:  # report the KV loop even when HF fails
            res["hf_error"] = f"{type(e).__name__}: {e}"[:300]
    emit(**res)


if __name__ == "__main__":
    main()
