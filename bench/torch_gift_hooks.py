"""GIFT as the PyTorch step peers attach it (bench/torch_folder_step.py, bench/torch_vit_step.py,
bench/torch_bert_step.py): one float32 pair, phi [r, in] and psi [in, r], shared by each group of layers, applied
as a forward pre-hook in the fused input form x + (x psi) phi, computed in float32 and handed to the layer in its
dtype. psi starts non-zero (std 0.02), unlike training's zero, so that every gradient is real work."""
import torch


def attach_gift(groups, rank):
    """groups: {name: [nn.Linear, ...]}, each group sharing one pair. Returns the pairs' parameters, in order."""
    params = []
    for modules in groups.values():
        d = modules[0].in_features
        phi = torch.nn.Parameter(torch.randn(rank, d) / d ** 0.5)
        psi = torch.nn.Parameter(torch.randn(d, rank) * 0.02)
        params += [phi, psi]
        for m in modules:
            m.register_forward_pre_hook(lambda m, args, phi=phi, psi=psi: ((args[0].float() + (args[0].float() @ psi) @ phi).to(args[0].dtype),))
    return params
