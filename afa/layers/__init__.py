"""Building blocks of the AFA necks, one small idea per file."""
from .attention import PooledAttention, fused_attention_available
from .block import AttentionBlock
from .conv_ffn import ConvFFN
from .kv_pool import KVPool

__all__ = ['PooledAttention', 'fused_attention_available', 'AttentionBlock', 'ConvFFN', 'KVPool']
