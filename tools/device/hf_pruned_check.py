"""On the GPU machine: a uniformly pruned model (written by `perfmamba prune`) loads unchanged in
transformers and gives perfmamba's perplexity on the same tokens.
Usage: python3 tools/device/hf_pruned_check.py MODEL_DIR TEXT_FILE PERFMAMBA_PPL_JSON"""
import json, math, sys

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

model_dir, text_file, pm_json = sys.argv[1:4]
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).cuda().eval()
ids = Tokenizer.from_file(model_dir + "/tokenizer.json").encode(open(text_file).read()[:400000]).ids
pm = json.load(open(pm_json))
ctx, n = pm["ctx"], pm["tokens"] + 1
nll, count = 0.0, 0
with torch.no_grad():
    for start in range(0, n - 1, ctx - 1):
        window = torch.tensor([ids[start:start + ctx]]).cuda()
        if window.shape[1] < 2:
            break
        logits = model(window).logits[0, :-1].double()
        nll += torch.nn.functional.cross_entropy(logits, window[0, 1:], reduction="sum").item()
        count += window.shape[1] - 1
hf = math.exp(nll / count)
print(f"{model_dir}: transformers {hf:.6f} over {count} tokens, perfmamba {pm['ppl']:.6f} over {pm['tokens']}, "
      f"relative difference {abs(hf - pm['ppl']) / pm['ppl']:.2e}, config {json.load(open(model_dir + '/config.json')).get('state_size')}")
