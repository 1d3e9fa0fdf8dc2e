"""Building blocks of the AFA necks, one small idea per file."""
from afa.layers.attention import PooledAttention, fused_attention_available
from afa.layers.block import AttentionBlock
from afa.layers.conv_ffn import ConvFFN
from afa.layers.kv_pool import KVPool

__all__ = ['PooledAttention', 'fused_attention_available', 'AttentionBlock', 'ConvFFN', 'KVPool']
