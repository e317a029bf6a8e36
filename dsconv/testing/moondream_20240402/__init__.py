"""A tiny stand-in for the remote code of `vikhyatk/moondream2` at revision 2024-04-02.

`dsconv.testing.tiny_moondream_0402` copies these modules (not this `__init__`) into a model
folder whose `config.json` names them in its `auto_map`, so the tiny model loads through
`AutoModelForCausalLM.from_pretrained(dir, trust_remote_code=True)` like the real revision. The
real code cannot be downloaded here; what these files copy is the shape the adapter meets:

- `configuration_moondream.py`: `MoondreamConfig.phi_config` (not `text_config`), a 4.x-style
  `PhiConfig` built from the top-level config keys; after a save it comes back as a dict, which
  `Moondream.__init__` turns into a `PhiConfig` itself;
- `vision_encoder.py`: a fixed-size encoder whose `__call__` runs under `torch.no_grad()` and
  whose projection reads one crop's features (1152 wide in the real model, 2304 in 2024-08-26);
- `modeling_phi.py`: a 4.x-style Phi with its own rotary buffers and `Cache.get_usable_length`;
- `moondream.py`: the wrapper, which never calls `post_init()`.

Each file imports only torch, transformers, numpy and PIL: the real ones also import
torchvision and einops.
"""
