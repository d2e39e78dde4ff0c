"""Built-in seed blocks, written in the block format: the starting points agents modify.

Each text holds a base block and its ``_stem`` and ``_downsample`` blocks.

    >>> sorted(SEED_BLOCKS)
    ['convnext', 'inception', 'resnet_basic', 'resnet_bottleneck', 'se_resnet']
    >>> seed_block("resnet_basic").name
    'ResNetBasic'
"""

from __future__ import annotations

from nas.graph.block import BlockGraph
from nas.graph.text import parse_blocks

__all__ = ["SEED_BLOCKS", "seed_block", "seed_blocks"]

_CONV_STEM = """##{name}_stem##
0:input
1:output
2:Conv2d(out_channels=dim,kernel_size=3,stride=1,bias=False)
3:BN
4:ReLU
0->2
2->3
3->4
4->1
##{name}_downsample##
0:input
1:output
2:Conv2d(out_channels=dim,kernel_size=2,stride=2,bias=False)
3:BN
4:ReLU
0->2
2->3
3->4
4->1
"""

RESNET_BASIC = """##ResNetBasic##
0:input
1:output
2:Conv2d(out_channels=C,kernel_size=3,stride=1,bias=False)
3:BN
4:ReLU
5:Conv2d(out_channels=C,kernel_size=3,stride=1,bias=False)
6:BN
7:Add
8:ReLU
0->2
2->3
3->4
4->5
5->6
6->7
0->7
7->8
8->1
""" + _CONV_STEM.format(name="ResNetBasic")

RESNET_BOTTLENECK = """##ResNetBottleneck##
0:input
1:output
2:Conv2d(out_channels=C/4,kernel_size=1,stride=1,bias=False)
3:BN
4:ReLU
5:Conv2d(out_channels=C/4,kernel_size=3,stride=1,bias=False)
6:BN
7:ReLU
8:Conv2d(out_channels=C,kernel_size=1,stride=1,bias=False)
9:BN
10:Add
11:ReLU
0->2
2->3
3->4
4->5
5->6
6->7
7->8
8->9
9->10
0->10
10->11
11->1
""" + _CONV_STEM.format(name="ResNetBottleneck")

# GoogLeNet inception module: 1x1 | 1x1-3x3 | 1x1-3x3-3x3 (the 5x5 as two 3x3) | pool-1x1,
# channels C/4 + C/2 + C/8 + C/8 = C, concatenated.
INCEPTION = """##Inception##
0:input
1:output
2:Conv2d(out_channels=C/4,kernel_size=1,bias=False)
3:BN
4:ReLU
5:Conv2d(out_channels=C/4,kernel_size=1,bias=False)
6:BN
7:ReLU
8:Conv2d(out_channels=C/2,kernel_size=3,bias=False)
9:BN
10:ReLU
11:Conv2d(out_channels=C/16,kernel_size=1,bias=False)
12:BN
13:ReLU
14:Conv2d(out_channels=C/8,kernel_size=3,bias=False)
15:BN
16:ReLU
17:Conv2d(out_channels=C/8,kernel_size=3,bias=False)
18:BN
19:ReLU
20:MaxPool2d(kernel_size=3,stride=1)
21:Conv2d(out_channels=C/8,kernel_size=1,bias=False)
22:BN
23:ReLU
24:concat(dim=1)
0->2
2->3
3->4
0->5
5->6
6->7
7->8
8->9
9->10
0->11
11->12
12->13
13->14
14->15
15->16
16->17
17->18
18->19
0->20
20->21
21->22
22->23
4->24
10->24
19->24
23->24
24->1
""" + _CONV_STEM.format(name="Inception")

CONVNEXT = """##ConvNeXt##
0:input
1:output
2:Conv2d(out_channels=C,kernel_size=7,stride=1,groups=C)
3:permute(0,2,3,1)
4:LN
5:Linear(out_channels=4*C)
6:GELU
7:Linear(out_channels=C)
8:permute(0,3,1,2)
9:DropPath
10:Add
0->2
2->3
3->4
4->5
5->6
6->7
7->8
8->9
9->10
0->10
10->1
##ConvNeXt_stem##
0:input
1:output
2:Conv2d(out_channels=dim,kernel_size=3,stride=1)
3:permute(0,2,3,1)
4:LN
5:permute(0,3,1,2)
0->2
2->3
3->4
4->5
5->1
##ConvNeXt_downsample##
0:input
1:output
2:permute(0,2,3,1)
3:LN
4:permute(0,3,1,2)
5:Conv2d(out_channels=dim,kernel_size=2,stride=2)
0->2
2->3
3->4
4->5
5->1
"""

SE_RESNET = """##SEResNet##
0:input
1:output
2:Conv2d(out_channels=C,kernel_size=3,stride=1,bias=False)
3:BN
4:ReLU
5:Conv2d(out_channels=C,kernel_size=3,stride=1,bias=False)
6:BN
7:AdaptiveAvgPool2d(output_size=1)
8:Conv2d(out_channels=C/16,kernel_size=1)
9:ReLU
10:Conv2d(out_channels=C,kernel_size=1)
11:Sigmoid
12:Mul
13:Add
14:ReLU
0->2
2->3
3->4
4->5
5->6
6->7
7->8
8->9
9->10
10->11
6->12
11->12
12->13
0->13
13->14
14->1
""" + _CONV_STEM.format(name="SEResNet")

SEED_BLOCKS: dict[str, str] = {
    "resnet_basic": RESNET_BASIC,
    "resnet_bottleneck": RESNET_BOTTLENECK,
    "inception": INCEPTION,
    "convnext": CONVNEXT,
    "se_resnet": SE_RESNET,
}


def seed_blocks(name: str) -> dict[str, BlockGraph]:
    """All blocks (base, stem, downsample) of seed ``name``."""
    if name not in SEED_BLOCKS:
        raise KeyError(f"unknown seed block {name!r}; seeds are: {', '.join(SEED_BLOCKS)}")
    return parse_blocks(SEED_BLOCKS[name])


def seed_block(name: str) -> BlockGraph:
    """The base block of seed ``name``."""
    return next(iter(seed_blocks(name).values()))
