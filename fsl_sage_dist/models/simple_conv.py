"""simple_conv: the reference's small CNN (two 5x5 convs on the client, three linears on the
server) with a single linear auxiliary head. ALGORITHMS.md Part II 6.1."""

from __future__ import annotations

from torch import nn

from fsl_sage_dist.models.split import SplitModel, probe_cut_shape, require_min_size

# Two stride-2 max-pools on the client.
_DOWNSAMPLING = 4
_CHANNELS = 64
_LINEAR_INIT_STD = 0.05


def build_simple_conv(input_shape: tuple[int, int, int], num_classes: int) -> SplitModel:
    """Cut after the second pooling stage: 64 * ceil(H/4) * ceil(W/4) features per sample."""
    require_min_size(input_shape, _DOWNSAMPLING, "simple_conv")
    client = _client(input_shape[0])
    (cut_features,) = probe_cut_shape(client, input_shape)
    server = nn.Sequential(
        nn.Linear(cut_features, 384),
        nn.ReLU(),
        nn.Linear(384, 192),
        nn.ReLU(),
        nn.Linear(192, num_classes),
        nn.LogSoftmax(dim=1),
    )
    aux = nn.Sequential(nn.Linear(cut_features, num_classes), nn.LogSoftmax(dim=1))
    _normal_init_linears(server)
    _normal_init_linears(aux)
    return SplitModel.from_parts(client, server, aux, input_shape, num_classes)


def _client(in_channels: int) -> nn.Sequential:
    # Convs keep PyTorch's default init: the reference's custom init touches only Linear layers.
    return nn.Sequential(
        nn.Conv2d(in_channels, _CHANNELS, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        _local_response_norm(),
        nn.Conv2d(_CHANNELS, _CHANNELS, kernel_size=5, padding=2),
        nn.ReLU(),
        _local_response_norm(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        nn.Flatten(),
    )


def _local_response_norm() -> nn.LocalResponseNorm:
    return nn.LocalResponseNorm(size=4, alpha=0.001 / 9.0, beta=0.75, k=1.0)


def _normal_init_linears(module: nn.Module) -> None:
    """The reference draws Linear weights and biases from N(0, 0.05^2)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, mean=0.0, std=_LINEAR_INIT_STD)
            nn.init.normal_(layer.bias, mean=0.0, std=_LINEAR_INIT_STD)
