"""ResNet-18 split at a declared stage boundary of torchvision's own network, with an auxiliary
head shaped like the first server stage. ALGORITHMS.md Part II 6.2."""

from __future__ import annotations

from collections import OrderedDict

import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

from fsl_sage_dist.models.split import SplitModel, require_min_size

CUTS = ("layer1", "layer2", "layer3")
STEMS = ("imagenet", "cifar")

_STAGES = ("layer1", "layer2", "layer3", "layer4")
_STEM_MODULES = ("conv1", "bn1", "relu", "maxpool")
_STAGE_CHANNELS = {"layer1": 64, "layer2": 128, "layer3": 256}
# Spatial downsampling of the client: the stem's (imagenet: stride-2 conv and stride-2 pool)
# times the stride-2 stages up to and including the cut.
_STEM_DOWNSAMPLING = {"imagenet": 4, "cifar": 1}
_CUT_DOWNSAMPLING = {"layer1": 1, "layer2": 2, "layer3": 4}


def build_resnet18(
    input_shape: tuple[int, int, int], num_classes: int, cut: str, stem: str
) -> SplitModel:
    """Client = stem + stages up to `cut`; server = the remaining stages + pool + fc."""
    require_min_size(input_shape, _STEM_DOWNSAMPLING[stem] * _CUT_DOWNSAMPLING[cut], "resnet18")
    net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    _set_stem(net, in_channels=input_shape[0], stem=stem)
    split_at = _STAGES.index(cut) + 1
    # Children keep torchvision's attribute names, so the halves' state_dict keys are the
    # unsplit network's keys and can be loaded into it directly.
    client = nn.Sequential(
        OrderedDict((name, getattr(net, name)) for name in (*_STEM_MODULES, *_STAGES[:split_at]))
    )
    server = nn.Sequential(
        OrderedDict(
            [
                *((name, getattr(net, name)) for name in _STAGES[split_at:]),
                ("avgpool", net.avgpool),
                ("flatten", nn.Flatten(1)),
                ("fc", net.fc),
                ("log_softmax", nn.LogSoftmax(dim=1)),
            ]
        )
    )
    aux = _aux_head(_STAGE_CHANNELS[cut], num_classes)
    return SplitModel.from_parts(client, server, aux, input_shape, num_classes)


def _set_stem(net: torchvision.models.ResNet, in_channels: int, stem: str) -> None:
    if stem == "cifar":
        # Small images: no early downsampling, so layer2 still sees 16x16 at 32 px.
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    else:
        return
    # The replacement conv is created after torchvision's init loop ran, so init it the same way.
    _init_like_torchvision(net.conv1)


def _aux_head(channels: int, num_classes: int) -> nn.Sequential:
    """One stage like the next server stage (2 BasicBlocks, stride 2, channels c -> 2c), then
    pool and a linear classifier: the auxiliary head CSE-FSL and FSL-SAGE train on clients."""
    out_channels = 2 * channels
    downsample = nn.Sequential(
        conv1x1(channels, out_channels, stride=2), nn.BatchNorm2d(out_channels)
    )
    head = nn.Sequential(
        OrderedDict(
            [
                (
                    "layer",
                    nn.Sequential(
                        BasicBlock(channels, out_channels, stride=2, downsample=downsample),
                        BasicBlock(out_channels, out_channels),
                    ),
                ),
                ("avgpool", nn.AdaptiveAvgPool2d(1)),
                ("flatten", nn.Flatten(1)),
                ("fc", nn.Linear(out_channels, num_classes)),
                ("log_softmax", nn.LogSoftmax(dim=1)),
            ]
        )
    )
    _init_like_torchvision(head)
    return head


def _init_like_torchvision(module: nn.Module) -> None:
    """torchvision's ResNet init: kaiming-normal (fan_out, relu) convs, BatchNorm 1 / 0,
    Linear left at PyTorch's default."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.constant_(layer.weight, 1)
            nn.init.constant_(layer.bias, 0)
